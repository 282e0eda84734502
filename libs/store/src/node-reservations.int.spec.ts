import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { keysUnder } from '@warmpod/devkit';
import type { Resources } from '@warmpod/domain';
import { NodeRepository } from './node-repository';
import { NodeReservations } from './node-reservations';
import { REDIS, redis, registration, reserve, scope, useNodeStore } from './testing/node-fixture';

useNodeStore();

describe('NodeReservations on real Redis', () => {
  test('reserve and release keep exact arithmetic and are idempotent per pod', async () => {
    const s = scope();
    const { nodes, sessions } = s;
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 1024, gpu: 3 }), '');
    const allocated = async (): Promise<Resources | undefined> => (await nodes.get('n1'))?.allocated;

    // Every pod here holds a GPU: releasing a GPU-less reservation is the next test.
    assert.equal(await reserve(s, 'n1', 'pod-a', { cpu: 0.1, memoryMiB: 100, gpu: 1 }), true);
    assert.equal(await reserve(s, 'n1', 'pod-b', { cpu: 0.2, memoryMiB: 200, gpu: 1 }), true);
    // 0.1 + 0.2 is 0.30000000000000004 in floating point; the store counts millicores.
    assert.deepEqual(await allocated(), { cpu: 0.3, memoryMiB: 300, gpu: 2 });

    // Same pod again, even with other sizes: a no-op that still says yes.
    assert.equal(await reserve(s, 'n1', 'pod-a', { cpu: 0.5, memoryMiB: 500, gpu: 1 }), true);
    assert.deepEqual(await allocated(), { cpu: 0.3, memoryMiB: 300, gpu: 2 });

    // Exactly full is allowed; one millicore, MiB or GPU more is not.
    assert.equal(await reserve(s, 'n1', 'pod-c', { cpu: 0.701, memoryMiB: 1, gpu: 1 }), false);
    assert.equal(await reserve(s, 'n1', 'pod-c', { cpu: 0.1, memoryMiB: 725, gpu: 1 }), false);
    assert.equal(await reserve(s, 'n1', 'pod-c', { cpu: 0.1, memoryMiB: 1, gpu: 2 }), false);
    assert.equal(await reserve(s, 'n1', 'pod-c', { cpu: 0.7, memoryMiB: 724, gpu: 1 }), true);
    assert.deepEqual(await allocated(), { cpu: 1, memoryMiB: 1024, gpu: 3 });
    assert.deepEqual((await s.reservations.list('n1')).sort(), ['pod-a', 'pod-b', 'pod-c']);

    await s.reservations.release('n1', 'pod-b');
    assert.deepEqual(await allocated(), { cpu: 0.8, memoryMiB: 824, gpu: 2 });
    await s.reservations.release('n1', 'pod-b');
    await s.reservations.release('n1', 'never-reserved');
    assert.deepEqual(await allocated(), { cpu: 0.8, memoryMiB: 824, gpu: 2 });
    assert.deepEqual((await s.reservations.list('n1')).sort(), ['pod-a', 'pod-c']);

    await s.reservations.release('n1', 'pod-a');
    await s.reservations.release('n1', 'pod-c');
    assert.deepEqual(await allocated(), { cpu: 0, memoryMiB: 0, gpu: 0 });
    assert.deepEqual(await s.reservations.list('n1'), []);
  });

  test('releasing a reservation without a GPU (the default) gives all of it back', async () => {
    const s = scope();
    const { nodes, sessions } = s;
    await sessions.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 0 }), '');
    assert.equal(await reserve(s, 'n1', 'pod-a', { cpu: 0.5, memoryMiB: 256, gpu: 0 }), true);
    assert.equal(await reserve(s, 'n1', 'pod-b', { cpu: 0.25, memoryMiB: 128, gpu: 0 }), true);
    // Released twice (a retry): the second call must be a no-op.
    const errors: string[] = [];
    for (let i = 0; i < 2; i++) await s.reservations.release('n1', 'pod-a').catch((e: Error) => errors.push(e.message));
    assert.deepEqual(
      { errors, allocated: (await nodes.get('n1'))?.allocated, reservations: await s.reservations.list('n1') },
      { errors: [], allocated: { cpu: 0.25, memoryMiB: 128, gpu: 0 }, reservations: ['pod-b'] },
    );
    await s.reservations.release('n1', 'pod-b');
    assert.deepEqual((await nodes.get('n1'))?.allocated, { cpu: 0, memoryMiB: 0, gpu: 0 });
  });

  test('a reservation on an unknown node is refused and stores nothing', async () => {
    const s = scope();
    const { prefix } = s;
    assert.equal(await reserve(s, 'ghost', 'pod-a', { cpu: 0.1, memoryMiB: 4, gpu: 0 }), false);
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  test('8 clients racing 2,000 reservations never overcommit a node', async () => {
    const s = scope();
    const { sessions, prefix } = s;
    const capacity: Record<string, Resources> = {
      'n-a': { cpu: 4, memoryMiB: 4096, gpu: 2 },
      'n-b': { cpu: 2, memoryMiB: 8192, gpu: 0 },
      'n-c': { cpu: 8, memoryMiB: 2048, gpu: 4 },
    };
    for (const [id, cap] of Object.entries(capacity)) await sessions.register(registration(id, cap), '');
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
          const repo = new NodeReservations(client, prefix);
          const mine: Array<[string, string]> = [];
          for (let i = 0; i < 250; i++) {
            const node = ids[randomInt(ids.length)]!;
            const pod = `pod-${c}-${i}`;
            const want = { cpu: randomInt(1, 2001) / 1000, memoryMiB: randomInt(4, 1025), gpu: randomInt(0, 3) };
            if (await reserve({ reservations: repo }, node, pod, want)) {
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
        const [cpu = 0, mem = 0, gpu = 0] = value.split(' ').map(Number);
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

  test('a release announces the node and its usage after it; every usage change bumps its revision', async () => {
    const s = scope();
    const { sessions, prefix } = s;
    await sessions.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 1 }), '');
    const subscriber = new Redis(REDIS);
    const seen: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => seen.push(message));
    await subscriber.subscribe(`${prefix}capacity:freed`);
    try {
      const a = await s.reservations.tryReserve('n1', 'pod-a', { cpu: 0.5, memoryMiB: 100, gpu: 1 });
      const b = await s.reservations.tryReserve('n1', 'pod-b', { cpu: 1, memoryMiB: 200, gpu: 0 });
      const refused = await s.reservations.tryReserve('n1', 'pod-c', { cpu: 1, memoryMiB: 1, gpu: 0 });
      assert.deepEqual([a.usageRev, b.usageRev, refused.reserved, refused.usageRev], [1, 2, false, 2]);
      await s.reservations.release('n1', 'pod-a');
      await s.reservations.release('n1', 'pod-a');
      const deadline = Date.now() + 2_000;
      while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, ['n1 1000 200 0 3']);
    } finally {
      subscriber.disconnect();
    }
  });
});
