import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { keysUnder } from '@warmpod/devkit';
import type { Resources } from '@warmpod/domain';
import { isReady, NodeRepository } from './node-repository';
import { DIGEST_A, DIGEST_B, DIGEST_C, REDIS, redis, registration, scope, useNodeStore } from './testing/node-fixture';

useNodeStore();

describe('NodeRepository on real Redis', () => {
  test('register then get returns the node as registered', async () => {
    const { nodes } = scope();
    const reg = registration('n1', { cpu: 2.5, memoryMiB: 4096, gpu: 1 });
    const before = new Date().toISOString();
    await nodes.register(reg);
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
    const { nodes } = scope();
    for (const id of ['n-c', 'n-a', 'n-b']) await nodes.register(registration(id, { cpu: 1, memoryMiB: 512, gpu: 0 }));
    assert.deepEqual(
      (await nodes.list()).map((n) => n.id),
      ['n-a', 'n-b', 'n-c'],
    );
    await nodes.deregister('n-b');
    assert.deepEqual(
      (await nodes.list()).map((n) => n.id),
      ['n-a', 'n-c'],
    );
  });

  test('heartbeat refreshes liveness and replaces the cache inventory', async () => {
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    const registered = (await nodes.get('n1'))!.heartbeatAt;

    await nodes.heartbeat('n1', [
      { digest: DIGEST_A, sizeBytes: 1000 },
      { digest: DIGEST_B, sizeBytes: 2_000_000_000 },
    ]);
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

    await nodes.heartbeat('n1', [{ digest: DIGEST_C, sizeBytes: 5 }]);
    node = (await nodes.get('n1'))!;
    assert.deepEqual(node.cachedDigests, [{ digest: DIGEST_C, sizeBytes: 5 }]);

    await nodes.heartbeat('n1', []);
    assert.deepEqual((await nodes.get('n1'))!.cachedDigests, []);

    await nodes.addCachedDigest('n1', DIGEST_A, 42);
    assert.deepEqual((await nodes.get('n1'))!.cachedDigests, [{ digest: DIGEST_A, sizeBytes: 42 }]);
  });

  test('heartbeats lists liveness fields only, lost nodes marked', async () => {
    const { nodes, prefix } = scope();
    await nodes.register(registration('n2', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
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
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    await nodes.heartbeat('n1', [{ digest: DIGEST_A, sizeBytes: 1 }]);
    const node = (await nodes.get('n1'))!;
    const beat = Date.parse(node.heartbeatAt);
    assert.equal(isReady(node, 5_000, beat + 5_000), true);
    assert.equal(isReady(node, 5_000, beat + 5_001), false);
    assert.deepEqual(
      node.cachedDigests.map((c) => c.digest),
      [DIGEST_A],
    );
  });

  test('a heartbeat from a node that is not registered (e.g. after deregister) stores nothing', async () => {
    const { nodes, prefix } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    await nodes.deregister('n1');
    assert.deepEqual(await keysUnder(redis, prefix), []);
    await nodes.heartbeat('n1', [{ digest: DIGEST_A, sizeBytes: 1 }]);
    await nodes.heartbeat('ghost', []);
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  test('setCordoned is false for an unknown node and toggles a known one', async () => {
    const { nodes, prefix } = scope();
    assert.equal(await nodes.setCordoned('ghost', true), false);
    assert.deepEqual(await keysUnder(redis, prefix), []);
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    assert.equal(await nodes.setCordoned('n1', true), true);
    assert.equal((await nodes.get('n1'))?.cordoned, true);
    assert.equal(await nodes.setCordoned('n1', false), true);
    assert.equal((await nodes.get('n1'))?.cordoned, false);
  });

  test('reserve and release keep exact arithmetic and are idempotent per pod', async () => {
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 1024, gpu: 3 }));
    const allocated = async (): Promise<Resources | undefined> => (await nodes.get('n1'))?.allocated;

    // Every pod here holds a GPU: releasing a GPU-less reservation is the next test.
    assert.equal(await nodes.reserve('n1', 'pod-a', { cpu: 0.1, memoryMiB: 100, gpu: 1 }), true);
    assert.equal(await nodes.reserve('n1', 'pod-b', { cpu: 0.2, memoryMiB: 200, gpu: 1 }), true);
    // 0.1 + 0.2 is 0.30000000000000004 in floating point; the store counts millicores.
    assert.deepEqual(await allocated(), { cpu: 0.3, memoryMiB: 300, gpu: 2 });

    // Same pod again, even with other sizes: a no-op that still says yes.
    assert.equal(await nodes.reserve('n1', 'pod-a', { cpu: 0.5, memoryMiB: 500, gpu: 1 }), true);
    assert.deepEqual(await allocated(), { cpu: 0.3, memoryMiB: 300, gpu: 2 });

    // Exactly full is allowed; one millicore, MiB or GPU more is not.
    assert.equal(await nodes.reserve('n1', 'pod-c', { cpu: 0.701, memoryMiB: 1, gpu: 1 }), false);
    assert.equal(await nodes.reserve('n1', 'pod-c', { cpu: 0.1, memoryMiB: 725, gpu: 1 }), false);
    assert.equal(await nodes.reserve('n1', 'pod-c', { cpu: 0.1, memoryMiB: 1, gpu: 2 }), false);
    assert.equal(await nodes.reserve('n1', 'pod-c', { cpu: 0.7, memoryMiB: 724, gpu: 1 }), true);
    assert.deepEqual(await allocated(), { cpu: 1, memoryMiB: 1024, gpu: 3 });
    assert.deepEqual((await nodes.reservations('n1')).sort(), ['pod-a', 'pod-b', 'pod-c']);

    await nodes.release('n1', 'pod-b');
    assert.deepEqual(await allocated(), { cpu: 0.8, memoryMiB: 824, gpu: 2 });
    await nodes.release('n1', 'pod-b');
    await nodes.release('n1', 'never-reserved');
    assert.deepEqual(await allocated(), { cpu: 0.8, memoryMiB: 824, gpu: 2 });
    assert.deepEqual((await nodes.reservations('n1')).sort(), ['pod-a', 'pod-c']);

    await nodes.release('n1', 'pod-a');
    await nodes.release('n1', 'pod-c');
    assert.deepEqual(await allocated(), { cpu: 0, memoryMiB: 0, gpu: 0 });
    assert.deepEqual(await nodes.reservations('n1'), []);
  });

  test('releasing a reservation without a GPU (the default) gives all of it back', async () => {
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 0 }));
    assert.equal(await nodes.reserve('n1', 'pod-a', { cpu: 0.5, memoryMiB: 256, gpu: 0 }), true);
    assert.equal(await nodes.reserve('n1', 'pod-b', { cpu: 0.25, memoryMiB: 128, gpu: 0 }), true);
    // Released twice (a retry): the second call must be a no-op.
    const errors: string[] = [];
    for (let i = 0; i < 2; i++) await nodes.release('n1', 'pod-a').catch((e: Error) => errors.push(e.message));
    assert.deepEqual(
      { errors, allocated: (await nodes.get('n1'))?.allocated, reservations: await nodes.reservations('n1') },
      { errors: [], allocated: { cpu: 0.25, memoryMiB: 128, gpu: 0 }, reservations: ['pod-b'] },
    );
    await nodes.release('n1', 'pod-b');
    assert.deepEqual((await nodes.get('n1'))?.allocated, { cpu: 0, memoryMiB: 0, gpu: 0 });
  });

  test('a reservation on an unknown node is refused and stores nothing', async () => {
    const { nodes, prefix } = scope();
    assert.equal(await nodes.reserve('ghost', 'pod-a', { cpu: 0.1, memoryMiB: 4, gpu: 0 }), false);
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  test('8 clients racing 2,000 reservations never overcommit a node', async () => {
    const { nodes, prefix } = scope();
    const capacity: Record<string, Resources> = {
      'n-a': { cpu: 4, memoryMiB: 4096, gpu: 2 },
      'n-b': { cpu: 2, memoryMiB: 8192, gpu: 0 },
      'n-c': { cpu: 8, memoryMiB: 2048, gpu: 4 },
    };
    for (const [id, cap] of Object.entries(capacity)) await nodes.register(registration(id, cap));
    const ids = Object.keys(capacity);
    const clients = Array.from({ length: 8 }, () => new Redis(REDIS));
    const stats = { reserved: 0, refused: 0, released: 0, overcommitSeen: 0 };
    let racing = true;
    try {
      // A reader watching usage while the race runs: every Lua step is atomic, so no read may ever see an overcommit.
      const watcher = (async () => {
        const reader = new NodeRepository(clients[0]!, prefix);
        while (racing) {
          for (const node of await reader.list()) {
            const cap = capacity[node.id]!;
            if (node.allocated.cpu > cap.cpu || node.allocated.memoryMiB > cap.memoryMiB || node.allocated.gpu > cap.gpu) {
              stats.overcommitSeen++;
            }
          }
        }
      })();
      await Promise.all(
        clients.map(async (client, c) => {
          const repo = new NodeRepository(client, prefix);
          const mine: Array<[string, string]> = [];
          for (let i = 0; i < 250; i++) {
            const node = ids[randomInt(ids.length)]!;
            const pod = `pod-${c}-${i}`;
            const want = { cpu: randomInt(1, 2001) / 1000, memoryMiB: randomInt(4, 1025), gpu: randomInt(0, 3) };
            if (await repo.reserve(node, pod, want)) {
              stats.reserved++;
              mine.push([node, pod]);
            } else {
              stats.refused++;
            }
            // Give some back now and then, so the race goes on near the limit.
            if (mine.length > 0 && randomInt(4) === 0) {
              const [n, p] = mine.splice(randomInt(mine.length), 1)[0]!;
              await repo.release(n, p);
              stats.released++;
            }
          }
        }),
      );
      racing = false;
      await watcher;
    } finally {
      racing = false;
      await Promise.all(clients.map((c) => c.quit()));
    }

    assert.equal(stats.reserved + stats.refused, 2000);
    assert.ok(stats.refused > 0, 'capacity never ran out: the race proved nothing');
    assert.ok(stats.reserved > 0);
    assert.equal(stats.overcommitSeen, 0);

    let live = 0;
    for (const id of ids) {
      const raw = await redis.hgetall(`${prefix}node:${id}:reservations`);
      const sum = { cpuMilli: 0, memoryMiB: 0, gpu: 0 };
      for (const value of Object.values(raw)) {
        const [cpu, mem, gpu] = value.split(' ').map(Number) as [number, number, number];
        sum.cpuMilli += cpu;
        sum.memoryMiB += mem;
        sum.gpu += gpu;
      }
      live += Object.keys(raw).length;
      const usage = await redis.hgetall(`${prefix}node:${id}:usage`);
      assert.deepEqual(
        { cpuMilli: Number(usage['cpuMilli'] ?? 0), memoryMiB: Number(usage['memoryMiB'] ?? 0), gpu: Number(usage['gpu'] ?? 0) },
        sum,
        `usage of ${id} is the sum of its reservations`,
      );
      const cap = capacity[id]!;
      assert.ok(sum.cpuMilli <= cap.cpu * 1000 && sum.memoryMiB <= cap.memoryMiB && sum.gpu <= cap.gpu, `${id} overcommitted`);
    }
    assert.equal(live, stats.reserved - stats.released);
  });
});
