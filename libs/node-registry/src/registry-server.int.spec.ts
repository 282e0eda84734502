import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status as Status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { NodeChangeFeed, NodeRepository } from '@warmpod/store';
import { connect, digest, image, isStatus, register, registration, RegistryFixture, REDIS } from './testing/int-fixture';
import type { NodeReportOut } from './messages';

let fx: RegistryFixture;

before(() => {
  fx = new RegistryFixture();
});

after(async () => {
  await fx.cleanup();
});

const IMAGE_A = image('a', [
  ['1', 700_000_000],
  ['2', 20_000_000_000],
]);
const IMAGE_B = image('b', [['1', 700_000_000]]);
const empty = { images: [], runningPods: [], checkpoints: [], usage: null };

/** Hand-encoded protobuf: field `no` as a length-delimited value. */
function lengthDelimited(no: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(no << 3) | 2, payload.length]), payload]);
}

describe('NodeRegistryServer on real gRPC and Redis', () => {
  test('registration and a full inventory land in Redis, images with sizes and layers', async () => {
    const s = await fx.scope(750);
    const client = fx.client(s.target);
    const { sessionId, heartbeatIntervalMs } = await register(client, registration('node-a'));
    assert.equal(heartbeatIntervalMs, 750);
    const stream = connect(client);
    stream.call.write({
      nodeId: 'node-a',
      sessionId,
      inventory: {
        images: [IMAGE_A, IMAGE_B],
        runningPods: [],
        checkpoints: [{ id: 'ck-1', key: 'key-1', state: 'available', sizeBytes: 42 }],
        usage: { cpu: 0.5, memoryMib: 128, gpu: 0 },
      },
    } satisfies NodeReportOut);
    const [first] = await stream.received(1);
    assert.equal(first?.body, 'ack');

    const node = (await s.nodes.get('node-a'))!;
    assert.equal(node.sessionId, sessionId);
    assert.deepEqual(node.capacity, { cpu: 4, memoryMiB: 8192, gpu: 2 });
    assert.deepEqual(node.gpus, [{ model: 'sim-h100', count: 2 }]);
    assert.deepEqual(node.capabilities, {
      runtime: 'runc',
      runcVersion: '1.1.12',
      criuVersion: '3.17.1',
      criuOk: false,
      criuReason: 'criu check failed: no kernel support',
      criuMode: '',
      criuNetworkLock: '',
      kernel: '6.1.0-test',
      arch: 'x64',
      cpuFlags: 'avx2 sse4_2',
    });
    assert.equal(node.agentUrl, 'http://127.0.0.1:9999');
    assert.deepEqual(
      [...node.cachedImages!].sort((x, y) => x.digest.localeCompare(y.digest)),
      [IMAGE_A, IMAGE_B],
    );
    assert.equal(node.cachedImages!.find((i) => i.digest === IMAGE_A.digest)!.layers[1]!.sizeBytes, 20_000_000_000);
    assert.deepEqual(node.checkpoints, [{ id: 'ck-1', key: 'key-1', state: 'available', sizeBytes: 42 }]);
    assert.deepEqual(node.reportedUsage, { cpu: 0.5, memoryMiB: 128, gpu: 0 });
    stream.call.end();
    assert.equal((await stream.status).code, Status.OK);
  });

  test('a delta replaces the running pods and adds images; a heartbeat refreshes liveness', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);
    const running = await fx.pod(s.pods, 'node-a', 'Running');
    const { sessionId } = await register(client, registration('node-a'));
    const stream = connect(client);
    const head = { nodeId: 'node-a', sessionId };
    stream.call.write({ ...head, inventory: { ...empty, images: [IMAGE_A] } });
    await stream.received(1);
    stream.call.write({
      ...head,
      delta: { addedImages: [IMAGE_B], removedImages: [], runningPods: [running], checkpoints: [], usage: null },
    });
    await stream.received(2);
    let node = (await s.nodes.get('node-a'))!;
    assert.deepEqual(node.runningPods, [running]);
    assert.deepEqual(new Set(node.cachedImages!.map((i) => i.digest)), new Set([IMAGE_A.digest, IMAGE_B.digest]));

    stream.call.write({
      ...head,
      delta: { addedImages: [], removedImages: [IMAGE_A.digest], runningPods: [], checkpoints: [], usage: null },
    });
    await stream.received(3);
    node = (await s.nodes.get('node-a'))!;
    assert.deepEqual(node.runningPods, []);
    assert.deepEqual(node.cachedImages, [IMAGE_B]);

    const beat = node.heartbeatAt;
    await new Promise((r) => setTimeout(r, 5));
    stream.call.write({ ...head, heartbeat: { sentAtMs: Date.now() } });
    const instructions = await stream.received(4);
    assert.deepEqual(
      instructions.map((i) => i.body),
      ['ack', 'ack', 'ack', 'ack'],
    );
    assert.ok((await s.nodes.get('node-a'))!.heartbeatAt > beat);
    stream.call.end();
    await stream.status;
  });

  test('malformed registrations are refused with INVALID_ARGUMENT naming the field; the server keeps serving', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);
    await assert.rejects(register(client, registration('Node_A')), isStatus(Status.INVALID_ARGUMENT, /nodeId: must be a DNS subdomain/));
    await assert.rejects(
      register(client, registration('node-a', { capacity: { cpu: -1, memoryMib: 1024, gpu: 0 }, gpus: [] })),
      isStatus(Status.INVALID_ARGUMENT, /capacity\.cpu: must be greater than 0/),
    );
    await assert.rejects(
      register(client, { ...registration('node-a'), capacity: null }),
      isStatus(Status.INVALID_ARGUMENT, /capacity: is required/),
    );
    await assert.rejects(
      register(client, registration('node-a', { gpus: [{ model: 'x', count: 1 }] })),
      isStatus(Status.INVALID_ARGUMENT, /gpus: GPU counts add up to 1, capacity.gpu is 2/),
    );
    await assert.rejects(
      register(client, registration('node-a', { labels: { 'bad key!': 'v' } })),
      isStatus(Status.INVALID_ARGUMENT, /labels/),
    );
    await assert.rejects(
      register(client, registration('node-a', { agentUrl: 'file:///etc/passwd' })),
      isStatus(Status.INVALID_ARGUMENT, /agentUrl/),
    );
    // Hand-written bytes: capacity (field 3, a message) carrying cpu (a double) as a 3-byte string.
    await assert.rejects(
      register(client, null, () =>
        Buffer.concat([lengthDelimited(1, Buffer.from('node-a')), lengthDelimited(3, lengthDelimited(1, Buffer.from('abc')))]),
      ),
      isStatus(Status.INVALID_ARGUMENT, /malformed registration: index out of range/),
    );
    assert.deepEqual(await s.nodes.list(), [], 'nothing refused was stored');

    const ok = await register(client, registration('node-a'));
    assert.ok(ok.sessionId);
  });

  test('malformed reports end only their own stream, with a status naming the problem', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);
    const healthy = await register(client, registration('node-ok'));
    const good = connect(client);
    good.call.write({ nodeId: 'node-ok', sessionId: healthy.sessionId, inventory: empty });
    await good.received(1);

    const { sessionId } = await register(client, registration('node-a'));
    const head = { nodeId: 'node-a', sessionId };

    const beforeInventory = connect(client);
    beforeInventory.call.write({ ...head, heartbeat: { sentAtMs: 1 } });
    const first = await beforeInventory.status;
    assert.equal(first.code, Status.FAILED_PRECONDITION);
    assert.match(first.details, /first report of a stream must be a full inventory/);

    const negative = connect(client);
    negative.call.write({ ...head, inventory: { ...empty, images: [{ ...IMAGE_A, sizeBytes: -5 }] } });
    const neg = await negative.status;
    assert.equal(neg.code, Status.INVALID_ARGUMENT);
    assert.match(neg.details, /inventory\.images\[0\]\.sizeBytes: must not be negative/);

    const badDigest = connect(client);
    badDigest.call.write({ ...head, inventory: { ...empty, images: [{ ...IMAGE_A, digest: 'latest' }] } });
    assert.match((await badDigest.status).details, /inventory\.images\[0\]\.digest: must be a sha256 digest/);

    const noBody = connect(client);
    noBody.call.write(head);
    const nb = await noBody.status;
    assert.equal(nb.code, Status.INVALID_ARGUMENT);
    assert.match(nb.details, /one of inventory, delta or heartbeat/);

    // A raw client with hand-written bytes: a full inventory, then session_id (field 2, a string)
    // sent as a varint. Decoded as a string it is garbage, and refused by name.
    const wrongType = connect(client, (bytes) => bytes as Buffer);
    wrongType.call.write(
      Buffer.concat([
        lengthDelimited(1, Buffer.from('node-a')),
        lengthDelimited(3, Buffer.alloc(0)),
        Buffer.from([(2 << 3) | 0, 0x05, 0, 1, 2, 3, 4]),
      ]),
    );
    const wt = await wrongType.status;
    assert.equal(wt.code, Status.INVALID_ARGUMENT);
    assert.match(wt.details, /invalid report: sessionId: is not a session id/);
    // An inventory whose declared length runs past the end of the message does not decode at all.
    const truncated = connect(client, (bytes) => bytes as Buffer);
    truncated.call.write(Buffer.concat([lengthDelimited(1, Buffer.from('node-a')), Buffer.from([(3 << 3) | 2, 0x10, 0x0a])]));
    const tr = await truncated.status;
    assert.equal(tr.code, Status.INVALID_ARGUMENT);
    assert.match(tr.details, /malformed report: index out of range/);

    // The other node's stream was not disturbed, and the server still takes new work.
    good.call.write({ nodeId: 'node-ok', sessionId: healthy.sessionId, heartbeat: { sentAtMs: Date.now() } });
    await good.received(2);
    const fresh = connect(client);
    fresh.call.write({ ...head, inventory: empty });
    assert.equal((await fresh.received(1))[0]?.body, 'ack');
    for (const st of [good, fresh]) st.call.end();
    assert.equal((await good.status).code, Status.OK);
  });

  test('an unknown node gets NOT_FOUND; a stale session gets FAILED_PRECONDITION; a new registration ends the old stream', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);

    const unknown = connect(client);
    unknown.call.write({ nodeId: 'node-ghost', sessionId: 'made-up', inventory: empty });
    const nf = await unknown.status;
    assert.equal(nf.code, Status.NOT_FOUND);
    assert.match(nf.details, /node node-ghost is not registered/);
    assert.deepEqual(await s.nodes.list(), []);

    const old = await register(client, registration('node-a'));
    const oldStream = connect(client);
    oldStream.call.write({ nodeId: 'node-a', sessionId: old.sessionId, inventory: empty });
    await oldStream.received(1);

    const current = await register(client, registration('node-a'));
    assert.notEqual(current.sessionId, old.sessionId);
    const replaced = await oldStream.status;
    assert.equal(replaced.code, Status.FAILED_PRECONDITION);
    assert.match(replaced.details, /session replaced/);

    const stale = connect(client);
    stale.call.write({ nodeId: 'node-a', sessionId: old.sessionId, inventory: { ...empty, images: [IMAGE_A] } });
    const st = await stale.status;
    assert.equal(st.code, Status.FAILED_PRECONDITION);
    assert.match(st.details, new RegExp(`session ${old.sessionId} is not the current session of node node-a`));
    assert.deepEqual((await s.nodes.get('node-a'))!.cachedImages, [], 'the stale inventory was not applied');
  });

  test('reconcile: a full inventory gets stop_pods for every pod not expected on the node, with reasons', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);
    const mine = await fx.pod(s.pods, 'node-a', 'Running');
    const scheduledHere = await fx.pod(s.pods, 'node-a', 'Scheduled');
    const elsewhere = await fx.pod(s.pods, 'node-b', 'Running');
    const ended = await fx.pod(s.pods, 'node-a', 'Succeeded');
    const pending = await fx.pod(s.pods, undefined, 'Pending');
    const unknown = 'pod-00000000000000000000';

    const { sessionId } = await register(client, registration('node-a'));
    const stream = connect(client);
    stream.call.write({
      nodeId: 'node-a',
      sessionId,
      inventory: { ...empty, runningPods: [mine, scheduledHere, elsewhere, ended, pending, unknown] },
    });
    const instructions = await stream.received(4);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(stream.instructions.length, 4, 'one stop_pods per reason, and no ack');
    const byReason = Object.fromEntries(
      instructions.map((i) => {
        assert.equal(i.body, 'stopPods');
        return i.body === 'stopPods' ? [i.stopPods.reason, i.stopPods.podIds] : [];
      }),
    );
    assert.deepEqual(byReason, {
      'not expected on node-a: pod is placed on node-b': [elsewhere],
      'not expected on node-a: pod is Succeeded': [ended],
      'not expected on node-a: pod is Pending (not placed)': [pending],
      'not expected on node-a: no pod record': [unknown],
    });

    // Once the node runs only what it should, a full inventory is simply acknowledged.
    stream.call.write({ nodeId: 'node-a', sessionId, inventory: { ...empty, runningPods: [mine, scheduledHere] } });
    assert.equal((await stream.received(5))[4]?.body, 'ack');
    assert.deepEqual((await s.nodes.get('node-a'))!.runningPods, [mine, scheduledHere]);
    stream.call.end();
    await stream.status;
  });

  test('every applied registration, inventory and delta is published on nodes:changed; a heartbeat is not', async () => {
    const s = await fx.scope();
    const subscriber = new Redis(REDIS);
    fx.onCleanup(() => subscriber.disconnect());
    const seen: string[] = [];
    const feed = new NodeChangeFeed(subscriber, s.prefix, { warn: () => undefined });
    await feed.subscribe((change) => seen.push(change.nodeId));
    fx.onCleanup(() => feed.close());
    const client = fx.client(s.target);
    const { sessionId } = await register(client, registration('node-a'));
    const stream = connect(client);
    stream.call.write({ nodeId: 'node-a', sessionId, inventory: empty });
    stream.call.write({
      nodeId: 'node-a',
      sessionId,
      delta: { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [], usage: null },
    });
    stream.call.write({ nodeId: 'node-a', sessionId, heartbeat: { sentAtMs: Date.now() } });
    await stream.received(3);
    const deadline = Date.now() + 2_000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Liveness alone is not a change: schedulers re-check heartbeats on their own timer.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, ['node-a', 'node-a', 'node-a']);
    const stored = await new NodeRepository(fx.redis, s.prefix).get('node-a');
    assert.ok(stored?.inventoryAt && stored.heartbeatAt >= stored.inventoryAt, 'the heartbeat itself was recorded');
    stream.call.end();
    await stream.status;
  });

  test('closing the server ends open streams with UNAVAILABLE', async () => {
    const s = await fx.scope();
    const client = fx.client(s.target);
    const { sessionId } = await register(client, registration('node-a'));
    const stream = connect(client);
    stream.call.write({ nodeId: 'node-a', sessionId, inventory: { ...empty, images: [{ ...IMAGE_B, digest: digest('c') }] } });
    await stream.received(1);
    await s.server.close(500);
    const st = await stream.status;
    assert.equal(st.code, Status.UNAVAILABLE);
  });
});
