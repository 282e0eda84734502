import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NodeChangeFeed, NodeReservations, type NodeChange } from '@warmpod/store';
import { eventually, registration, RegistryFixture, silent } from './testing/int-fixture';
import { NodeRegistryClient } from './node-registry-client';

let fx: RegistryFixture;

before(() => {
  fx = new RegistryFixture();
});

after(async () => {
  await fx.cleanup();
});

function leavingClient(target: string): NodeRegistryClient {
  const c = new NodeRegistryClient({
    target,
    registration: registration('node-a'),
    inventory: async () => ({ images: [], runningPods: [], checkpoints: [], usage: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
    onStopPods: async () => undefined,
    logger: silent,
    backoff: { initialMs: 50, maxMs: 400 },
  });
  fx.onCleanup(() => c.stop());
  return c;
}

describe('A node leaving the cluster: drain mark, then Deregister over real gRPC and Redis', () => {
  test('a draining node takes no new reservation; with pods still reserved the deregistration is refused and the node stays', async () => {
    const s = await fx.scope(200);
    const reservations = new NodeReservations(fx.redis, s.prefix);
    const c = leavingClient(`grpc://${s.target}`);
    await c.start();
    assert.equal((await reservations.tryReserve('node-a', 'pod-1', { cpu: 1, memoryMiB: 64, gpu: 0 })).reserved, true);

    assert.equal(await s.nodes.startDrain('node-a'), true);
    assert.equal(await s.nodes.startDrain('node-unknown'), false);
    const draining = (await s.nodes.get('node-a'))!;
    assert.ok(draining.drainingAt);
    assert.equal(draining.cordoned, true);
    assert.equal((await reservations.tryReserve('node-a', 'pod-2', { cpu: 1, memoryMiB: 64, gpu: 0 })).reserved, false);

    await assert.rejects(c.leave(5_000), /still holds pod reservations/);
    assert.ok(await s.nodes.get('node-a'), 'refused: the node is still registered');
  });

  test('once empty, leave deregisters: the node, its images, usage and reservations are gone, announced as deregistered', async () => {
    const s = await fx.scope(200);
    const reservations = new NodeReservations(fx.redis, s.prefix);
    const feed = new NodeChangeFeed(fx.redis, s.prefix, silent);
    const changes: NodeChange[] = [];
    await feed.subscribe((change) => changes.push(change));
    fx.onCleanup(() => feed.close());

    const c = leavingClient(`grpc://${s.target}`);
    await c.start();
    await reservations.tryReserve('node-a', 'pod-1', { cpu: 1, memoryMiB: 64, gpu: 0 });
    await s.nodes.startDrain('node-a');
    await reservations.release('node-a', 'pod-1');
    await c.leave(5_000);

    assert.equal(await s.nodes.get('node-a'), undefined);
    assert.deepEqual(await fx.redis.keys(`${s.prefix}node:node-a*`), []);
    assert.equal(await fx.redis.sismember(`${s.prefix}nodes`, 'node-a'), 0);
    await eventually(
      'the removal announced',
      async () => changes,
      (seen) => seen.some((x) => x.what === 'deregistered'),
    );
    assert.ok(changes.some((x) => x.what === 'draining'));
    await eventually(
      'its stream ended',
      async () => s.server.connectedNodes,
      (nodes) => nodes.length === 0,
    );
  });
});
