import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, image, registration, RegistryFixture, silent, type Scope } from './testing/int-fixture';
import type { AgentInventory } from './inventory-diff';
import type { CachedImageMessage } from './messages';
import { NodeRegistryClient } from './node-registry-client';

let fx: RegistryFixture;

before(() => {
  fx = new RegistryFixture();
});

after(async () => {
  await fx.cleanup();
});

const IMAGE_A = image('a', [['1', 5_000_000]]);
const IMAGE_B = image('b', [
  ['1', 5_000_000],
  ['2', 9_000_000_000],
]);

/** A node as the client sees it: what the agent's callbacks would read from its cache and runc. */
class FakeNode {
  images: CachedImageMessage[] = [];
  running: string[] = [];
  collected = 0;
  stopRequests: Array<{ podIds: string[]; reason: string }> = [];

  async inventory(): Promise<AgentInventory> {
    this.collected++;
    return { images: [...this.images], runningPods: [...this.running], checkpoints: [], usage: { cpu: 0, memoryMiB: 0, gpu: 0 } };
  }

  async stopPods(podIds: string[], reason: string): Promise<void> {
    this.stopRequests.push({ podIds, reason });
    this.running = this.running.filter((id) => !podIds.includes(id));
  }
}

function client(target: string, node: FakeNode, nodeId = 'node-a'): NodeRegistryClient {
  const c = new NodeRegistryClient({
    target,
    registration: registration(nodeId),
    inventory: () => node.inventory(),
    onStopPods: (ids, reason) => node.stopPods(ids, reason),
    logger: silent,
    backoff: { initialMs: 50, maxMs: 400 },
  });
  fx.onCleanup(() => c.stop());
  return c;
}

const record =
  (s: Scope, id = 'node-a') =>
  () =>
    s.nodes.get(id);

describe('NodeRegistryClient against a real registry server', () => {
  test('start registers and sends the full inventory; reportChange sends one coalesced delta; heartbeats keep it fresh', async () => {
    const s = await fx.scope(200);
    const node = new FakeNode();
    node.images = [IMAGE_A];
    const running = await fx.pod(s.pods, 'node-a', 'Running');
    node.running = [running];
    const c = client(`grpc://${s.target}`, node);
    await c.start();

    const first = await eventually('inventory applied', record(s), (n) => n?.cachedImages?.length === 1);
    assert.equal(first!.sessionId, c.sessionId);
    assert.deepEqual(first!.cachedImages, [IMAGE_A]);
    assert.deepEqual(first!.runningPods, [running]);
    assert.deepEqual(s.server.connectedNodes, ['node-a']);

    // A pull and a pod ending, announced in a burst: one collection, one delta.
    const collectedBefore = node.collected;
    node.images = [IMAGE_A, IMAGE_B];
    node.running = [];
    for (let i = 0; i < 5; i++) c.reportChange();
    const changed = await eventually('delta applied', record(s), (n) => n?.cachedImages?.length === 2 && n.runningPods?.length === 0);
    assert.deepEqual(
      changed!.cachedImages!.find((i) => i.digest === IMAGE_B.digest),
      IMAGE_B,
    );
    assert.equal(node.collected - collectedBefore, 1, 'the burst was coalesced');

    // Nothing changes: heartbeats alone move heartbeatAt forward.
    const beat = changed!.heartbeatAt;
    await eventually('heartbeat applied', record(s), (n) => n !== undefined && n.heartbeatAt > beat, 2_000);

    await c.stop();
    await eventually(
      'stream closed',
      async () => s.server.connectedNodes,
      (nodes) => nodes.length === 0,
    );
  });

  test('stop() sends a change still waiting to be reported before it ends the stream', async () => {
    const s = await fx.scope(60_000);
    const node = new FakeNode();
    node.running = [await fx.pod(s.pods, 'node-a', 'Running')];
    const c = client(s.target, node);
    await c.start();
    // A first report goes out at once; the next one then waits out the coalescing window.
    c.reportChange();
    await eventually(
      'first report collected',
      async () => node.collected,
      (n) => n === 2,
    );
    node.running = [];
    c.reportChange();
    await c.stop();
    assert.deepEqual((await s.nodes.get('node-a'))!.runningPods, []);
    await eventually(
      'stream closed',
      async () => s.server.connectedNodes,
      (nodes) => nodes.length === 0,
    );
  });

  test('stop_pods from reconcile reaches the callback, and the change is reported back', async () => {
    const s = await fx.scope(200);
    const node = new FakeNode();
    const mine = await fx.pod(s.pods, 'node-a', 'Running');
    const orphan = 'pod-00000000000000000001';
    node.running = [mine, orphan];
    const c = client(s.target, node);
    await c.start();
    await eventually(
      'stop requested',
      async () => node.stopRequests,
      (r) => r.length === 1,
    );
    assert.deepEqual(node.stopRequests, [{ podIds: [orphan], reason: 'not expected on node-a: no pod record' }]);
    await eventually('running pods reported', record(s), (n) => JSON.stringify(n?.runningPods) === JSON.stringify([mine]));
  });

  test('the client registers again (a new session) after the scheduler restarts, and resends its inventory', async () => {
    const s = await fx.scope(200);
    const node = new FakeNode();
    node.images = [IMAGE_A];
    const c = client(s.target, node);
    await c.start();
    const before = await eventually('first session', record(s), (n) => n?.cachedImages?.length === 1);

    await s.server.close(200);
    // While the scheduler is away the node changes; the client keeps trying without crashing.
    node.images = [IMAGE_A, IMAGE_B];
    c.reportChange();
    await new Promise((r) => setTimeout(r, 300));
    const restarted = await fx.server(s.prefix, s.port, 200);

    const after = await eventually(
      'new session',
      record(s),
      (n) => n?.sessionId !== before!.sessionId && n?.cachedImages?.length === 2,
      10_000,
    );
    await eventually(
      'client on the new session',
      async () => c.sessionId,
      (id) => id === after!.sessionId,
    );
    assert.deepEqual(restarted.connectedNodes, ['node-a']);
  });

  test('start waits for a scheduler that is not up yet', async () => {
    const s = await fx.scope(200);
    const port = s.port;
    await s.server.close(100);
    const node = new FakeNode();
    const c = client(`127.0.0.1:${port}`, node, 'node-late');
    let started = false;
    const starting = c.start().then(() => (started = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(started, false);
    await fx.server(s.prefix, port, 200);
    await starting;
    assert.ok((await s.nodes.get('node-late'))?.sessionId);
  });
});
