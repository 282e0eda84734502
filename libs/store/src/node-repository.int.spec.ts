import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keysUnder } from '@warmpod/devkit';
import { isReady } from './node-record';
import { DIGEST_A, DIGEST_B, DIGEST_C, deregister, inventory, redis, registration, scope, useNodeStore } from './testing/node-fixture';

useNodeStore();

describe('NodeRepository (the registry) on real Redis', () => {
  test('register then get returns the node as registered', async () => {
    const { nodes, sessions } = scope();
    const reg = registration('n1', { cpu: 2.5, memoryMiB: 4096, gpu: 1 });
    const before = new Date().toISOString();
    await sessions.register(reg, '');
    const node = await nodes.get('n1');
    assert.ok(node);
    const { registeredAt, heartbeatAt, ...rest } = node;
    assert.deepEqual(rest, {
      ...reg,
      cordoned: false,
      allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
      cachedDigests: [],
      gpus: [],
      cachedImages: [],
      runningPods: [],
      checkpoints: [],
    });
    assert.equal(heartbeatAt, registeredAt);
    assert.ok(registeredAt >= before && registeredAt <= new Date().toISOString());
    assert.equal(await nodes.get('n2'), undefined);
  });

  test('list returns registered nodes by id', async () => {
    const { nodes, sessions, prefix } = scope();
    for (const id of ['n-c', 'n-a', 'n-b']) await sessions.register(registration(id, { cpu: 1, memoryMiB: 512, gpu: 0 }), '');
    assert.deepEqual(
      (await nodes.list()).map((n) => n.id),
      ['n-a', 'n-b', 'n-c'],
    );
    await deregister(prefix, 'n-b');
    assert.deepEqual(
      (await nodes.list()).map((n) => n.id),
      ['n-a', 'n-c'],
    );
  });

  test('an inventory refreshes liveness and replaces the cache inventory', async () => {
    const { nodes, sessions } = scope();
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
    const registered = (await nodes.get('n1'))!.heartbeatAt;

    await sessions.applyInventory(
      'n1',
      's1',
      inventory([
        { digest: DIGEST_A, sizeBytes: 1000 },
        { digest: DIGEST_B, sizeBytes: 2_000_000_000 },
      ]),
    );
    let node = (await nodes.get('n1'))!;
    assert.deepEqual(
      [...node.cachedDigests].sort((x, y) => x.digest.localeCompare(y.digest)),
      [
        { digest: DIGEST_A, sizeBytes: 1000 },
        { digest: DIGEST_B, sizeBytes: 2_000_000_000 },
      ],
    );
    assert.ok(node.heartbeatAt >= registered);
    assert.equal(node.registeredAt, registered);

    await sessions.applyInventory('n1', 's1', inventory([{ digest: DIGEST_C, sizeBytes: 5 }]));
    node = (await nodes.get('n1'))!;
    assert.deepEqual(node.cachedDigests, [{ digest: DIGEST_C, sizeBytes: 5 }]);

    await sessions.applyInventory('n1', 's1', inventory([]));
    assert.deepEqual((await nodes.get('n1'))!.cachedDigests, []);

    await nodes.addCachedDigest('n1', DIGEST_A, 42);
    assert.deepEqual((await nodes.get('n1'))!.cachedDigests, [{ digest: DIGEST_A, sizeBytes: 42 }]);
  });

  test('heartbeats lists liveness fields only, lost nodes marked', async () => {
    const { nodes, sessions, prefix } = scope();
    await sessions.register(registration('n2', { cpu: 1, memoryMiB: 512, gpu: 0 }), '');
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), '');
    await redis.hset(`${prefix}node:n2`, 'lostAt', '2026-01-01T00:00:00.000Z');
    const beats = await nodes.heartbeats();
    assert.deepEqual(
      beats.map((b) => [b.id, b.lostAt]),
      [
        ['n1', undefined],
        ['n2', '2026-01-01T00:00:00.000Z'],
      ],
    );
    assert.equal(beats[0]!.heartbeatAt, (await nodes.get('n1'))!.heartbeatAt);
  });

  test('a node is ready only within the heartbeat window', async () => {
    const { nodes, sessions } = scope();
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
    await sessions.applyInventory('n1', 's1', inventory([{ digest: DIGEST_A, sizeBytes: 1 }]));
    const node = (await nodes.get('n1'))!;
    const beat = Date.parse(node.heartbeatAt);
    assert.equal(isReady(node, 5_000, beat + 5_000), true);
    assert.equal(isReady(node, 5_000, beat + 5_001), false);
    assert.deepEqual(
      node.cachedDigests.map((c) => c.digest),
      [DIGEST_A],
    );
  });

  test('a report from a node that is not registered (e.g. after it was removed) stores nothing', async () => {
    const { sessions, prefix } = scope();
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
    await deregister(prefix, 'n1');
    assert.deepEqual(await keysUnder(redis, prefix), []);
    await sessions.applyInventory('n1', 's1', inventory([{ digest: DIGEST_A, sizeBytes: 1 }]));
    await sessions.applyInventory('ghost', 's1', inventory([]));
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  test('setCordoned is false for an unknown node and toggles a known one', async () => {
    const { nodes, sessions, prefix } = scope();
    assert.equal(await nodes.setCordoned('ghost', true), false);
    assert.deepEqual(await keysUnder(redis, prefix), []);
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), '');
    assert.equal(await nodes.setCordoned('n1', true), true);
    assert.equal((await nodes.get('n1'))?.cordoned, true);
    assert.equal(await nodes.setCordoned('n1', false), true);
    assert.equal((await nodes.get('n1'))?.cordoned, false);
  });
});
