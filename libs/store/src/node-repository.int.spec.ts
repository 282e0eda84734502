import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Resources } from '@warmpod/domain';
import { NodeFactsReader } from './node-facts';
import { isReady, NodeRepository, watchNodeChanges, type CachedImage, type NodeRegistration } from './node-repository';
import { dropKeys } from '@warmpod/devkit';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const REDIS = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;
const DIGEST_C = `sha256:${'c'.repeat(64)}`;
const LAYER = (c: string, sizeBytes: number) => ({ digest: `sha256:${c.repeat(64)}`, sizeBytes });
const IMAGE_A: CachedImage = { digest: DIGEST_A, sizeBytes: 30_000_000_000, layers: [LAYER('1', 20_000_000_000), LAYER('2', 9_999_000_000)] };
const IMAGE_B: CachedImage = { digest: DIGEST_B, sizeBytes: 1_500, layers: [LAYER('1', 1_000)] };
const IMAGE_C: CachedImage = { digest: DIGEST_C, sizeBytes: 99, layers: [] };
let redis: Redis;
let counter = 0;

function sortImages<T extends { digest: string }>(images: T[]): T[] {
  return [...images].sort((x, y) => x.digest.localeCompare(y.digest));
}

function scope(): { prefix: string; nodes: NodeRepository } {
  const prefix = `${filePrefix}${++counter}:`;
  return { prefix, nodes: new NodeRepository(redis, prefix) };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.map((k) => k.slice(prefix.length)).sort();
}

function registration(id: string, capacity: Resources, over: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    id,
    labels: { zone: 'a', 'warmpod.dev/pool': 'default' },
    capacity,
    agentUrl: `http://127.0.0.1:7${id.length}00`,
    capabilities: { runtime: 'runc', criu: false, arch: 'x64' },
    ...over,
  };
}

before(() => {
  redis = new Redis(REDIS);
});

after(async () => {
  if (!redis) return;
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

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
    assert.deepEqual(beats.map((b) => [b.id, b.lostAt]), [['n1', undefined], ['n2', '2026-01-01T00:00:00.000Z']]);
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
    assert.deepEqual(node.cachedDigests.map((c) => c.digest), [DIGEST_A]);
  });

  test('a heartbeat from a node that is not registered (e.g. after deregister) stores nothing', async () => {
    const { nodes, prefix } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }));
    await nodes.deregister('n1');
    assert.deepEqual(await keysUnder(prefix), []);
    await nodes.heartbeat('n1', [{ digest: DIGEST_A, sizeBytes: 1 }]);
    await nodes.heartbeat('ghost', []);
    assert.deepEqual(await keysUnder(prefix), []);
  });

  test('setCordoned is false for an unknown node and toggles a known one', async () => {
    const { nodes, prefix } = scope();
    assert.equal(await nodes.setCordoned('ghost', true), false);
    assert.deepEqual(await keysUnder(prefix), []);
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
    assert.deepEqual(await keysUnder(prefix), []);
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
  test('a session inventory lands with image sizes and layers, running pods, checkpoints and usage', async () => {
    const { nodes, prefix } = scope();
    await nodes.register(registration('n1', { cpu: 4, memoryMiB: 8192, gpu: 2 }, { gpus: [{ model: 'sim-a100', count: 2 }] }), 'session-1');
    const registered = (await nodes.get('n1'))!;
    assert.equal(registered.sessionId, 'session-1');
    assert.deepEqual(registered.gpus, [{ model: 'sim-a100', count: 2 }]);

    const result = await nodes.applyInventory('n1', 'session-1', {
      images: [IMAGE_A, IMAGE_B],
      runningPods: ['pod-1', 'pod-2'],
      checkpoints: [{ id: 'ck-1', key: 'k'.repeat(12), state: 'available', sizeBytes: 1234 }],
      usage: { cpu: 0.5, memoryMiB: 256, gpu: 1 },
    });
    assert.equal(result, 'applied');
    const node = (await nodes.get('n1'))!;
    assert.deepEqual(sortImages(node.cachedImages!), [IMAGE_A, IMAGE_B]);
    assert.deepEqual(sortImages(node.cachedDigests), [
      { digest: DIGEST_A, sizeBytes: IMAGE_A.sizeBytes },
      { digest: DIGEST_B, sizeBytes: IMAGE_B.sizeBytes },
    ]);
    assert.deepEqual(node.runningPods, ['pod-1', 'pod-2']);
    assert.deepEqual(node.checkpoints, [{ id: 'ck-1', key: 'k'.repeat(12), state: 'available', sizeBytes: 1234 }]);
    assert.deepEqual(node.reportedUsage, { cpu: 0.5, memoryMiB: 256, gpu: 1 });
    assert.ok(node.inventoryAt && node.heartbeatAt >= registered.heartbeatAt);
    // Layers are stored once per digest; the node keeps only digest -> `size layerCount`.
    assert.deepEqual(await keysUnder(prefix), [`layers:${DIGEST_A}`, `layers:${DIGEST_B}`, 'node:n1', 'node:n1:images', 'nodes']);
    assert.deepEqual(await redis.hgetall(`${prefix}node:n1:images`), { [DIGEST_A]: `${IMAGE_A.sizeBytes} 2`, [DIGEST_B]: `${IMAGE_B.sizeBytes} 1` });
  });

  test('two nodes holding one digest share its layer record and read back the same images', async () => {
    const { nodes, prefix } = scope();
    for (const id of ['n1', 'n2']) {
      await nodes.register(registration(id, { cpu: 1, memoryMiB: 512, gpu: 0 }), `s-${id}`);
      await nodes.applyInventory(id, `s-${id}`, { images: [IMAGE_A, IMAGE_C], runningPods: [], checkpoints: [] });
    }
    await nodes.addCachedDigest('n2', DIGEST_B, IMAGE_B.sizeBytes, IMAGE_B.layers);
    assert.deepEqual(sortImages((await nodes.get('n1'))!.cachedImages!), [IMAGE_A, IMAGE_C]);
    assert.deepEqual(sortImages((await nodes.get('n2'))!.cachedImages!), [IMAGE_A, IMAGE_B, IMAGE_C]);
    assert.deepEqual((await keysUnder(prefix)).filter((k) => k.startsWith('layers:')), [`layers:${DIGEST_A}`, `layers:${DIGEST_B}`]);
    // An entry written by an earlier version (JSON with its layers) still reads back.
    await redis.hset(`${prefix}node:n1:images`, DIGEST_B, JSON.stringify({ sizeBytes: 7, layers: [LAYER('9', 7)] }));
    assert.deepEqual(sortImages((await nodes.get('n1'))!.cachedImages!)[1], { digest: DIGEST_B, sizeBytes: 7, layers: [LAYER('9', 7)] });
  });

  test('the inventory revision moves with image changes only; facts read without images', async () => {
    const { nodes, prefix } = scope();
    const facts = new NodeFactsReader(redis, prefix);
    await nodes.register(registration('n1', { cpu: 2, memoryMiB: 512, gpu: 0 }), 's1');
    await nodes.applyInventory('n1', 's1', {
      images: [IMAGE_A],
      runningPods: [],
      checkpoints: [{ id: 'ck-1', key: 'k1', state: 'available', sizeBytes: 1 }],
    });
    const rev = async () => (await facts.read(['n1']))[0]!.imagesRev;
    const first = await rev();
    assert.equal(await nodes.touch('n1', 's1'), 'applied');
    await nodes.setCordoned('n1', true);
    await nodes.applyDelta('n1', 's1', { addedImages: [], removedImages: [], runningPods: ['p'], checkpoints: [] });
    assert.equal(await rev(), first, 'liveness, cordon and pod lists leave the inventory revision');
    await nodes.applyDelta('n1', 's1', { addedImages: [IMAGE_B], removedImages: [], runningPods: [], checkpoints: [] });
    const second = await rev();
    assert.notEqual(second, first);
    await nodes.addCachedDigest('n1', DIGEST_C, 99);
    assert.notEqual(await rev(), second);

    await nodes.reserve('n1', 'pod-a', { cpu: 1, memoryMiB: 1, gpu: 0 });
    const [read, missing] = await facts.read(['n1', 'ghost']);
    assert.equal(missing, undefined);
    assert.deepEqual({ cordoned: read!.cordoned, allocated: read!.allocated, usageRev: read!.usageRev }, { cordoned: true, allocated: { cpu: 1, memoryMiB: 1, gpu: 0 }, usageRev: 1 });
    assert.deepEqual(sortImages((await facts.images(['n1']))[0]!), [IMAGE_A, IMAGE_B, IMAGE_C]);
  });

  test('a release announces the node and its usage after it; every usage change bumps its revision', async () => {
    const { nodes, prefix } = scope();
    await nodes.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 1 }));
    const subscriber = new Redis(REDIS);
    const seen: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => seen.push(message));
    await subscriber.subscribe(`${prefix}capacity:freed`);
    try {
      const a = await nodes.tryReserve('n1', 'pod-a', { cpu: 0.5, memoryMiB: 100, gpu: 1 });
      const b = await nodes.tryReserve('n1', 'pod-b', { cpu: 1, memoryMiB: 200, gpu: 0 });
      const refused = await nodes.tryReserve('n1', 'pod-c', { cpu: 1, memoryMiB: 1, gpu: 0 });
      assert.deepEqual([a.usageRev, b.usageRev, refused.reserved, refused.usageRev], [1, 2, false, 2]);
      await nodes.release('n1', 'pod-a');
      await nodes.release('n1', 'pod-a');
      const deadline = Date.now() + 2_000;
      while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, ['n1 1000 200 0 3']);
    } finally {
      subscriber.disconnect();
    }
  });

  test('a delta removes and adds images and replaces the running pods; a touch only refreshes liveness', async () => {
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 4, memoryMiB: 8192, gpu: 0 }), 's1');
    await nodes.applyInventory('n1', 's1', { images: [IMAGE_A, IMAGE_B], runningPods: ['pod-1'], checkpoints: [] });
    const inventoryAt = (await nodes.get('n1'))!.inventoryAt;

    assert.equal(
      await nodes.applyDelta('n1', 's1', { addedImages: [IMAGE_C], removedImages: [DIGEST_A], runningPods: ['pod-2', 'pod-3'], checkpoints: [] }),
      'applied',
    );
    let node = (await nodes.get('n1'))!;
    assert.deepEqual(sortImages(node.cachedImages!), [IMAGE_B, IMAGE_C]);
    assert.deepEqual(node.runningPods, ['pod-2', 'pod-3']);
    assert.equal(node.reportedUsage, undefined);
    assert.equal(node.inventoryAt, inventoryAt, 'a delta is not a full inventory');

    const before = node.heartbeatAt;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await nodes.touch('n1', 's1'), 'applied');
    node = (await nodes.get('n1'))!;
    assert.ok(node.heartbeatAt > before);
    assert.deepEqual(sortImages(node.cachedImages!), [IMAGE_B, IMAGE_C]);
  });

  test('session writes are refused for an unknown node, a stale session and a lost node, and store nothing', async () => {
    const { nodes, prefix } = scope();
    const empty = { images: [IMAGE_A], runningPods: [], checkpoints: [] };
    assert.equal(await nodes.applyInventory('ghost', 's1', empty), 'unknown-node');
    assert.equal(await nodes.touch('ghost', 's1'), 'unknown-node');
    assert.deepEqual(await keysUnder(prefix), []);

    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'old');
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'new');
    assert.equal(await nodes.applyInventory('n1', 'old', empty), 'stale-session');
    assert.equal(await nodes.applyDelta('n1', 'old', { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [] }), 'stale-session');
    assert.equal(await nodes.touch('n1', 'old'), 'stale-session');
    assert.deepEqual((await nodes.get('n1'))!.cachedImages, []);

    await redis.hset(`${prefix}node:n1`, 'lostAt', new Date().toISOString());
    assert.equal(await nodes.touch('n1', 'new'), 'node-lost');
    assert.ok((await nodes.get('n1'))!.lostAt);
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'newest');
    assert.equal((await nodes.get('n1'))!.lostAt, undefined, 'registering again clears the lost mark');
    assert.equal(await nodes.applyInventory('n1', 'newest', empty), 'applied');
  });

  test('re-registering keeps the cordon flag and the last inventory', async () => {
    const { nodes } = scope();
    await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
    await nodes.applyInventory('n1', 's1', { images: [IMAGE_A], runningPods: ['pod-1'], checkpoints: [] });
    await nodes.setCordoned('n1', true);
    await nodes.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 0 }), 's2');
    const node = (await nodes.get('n1'))!;
    assert.equal(node.cordoned, true);
    assert.deepEqual(node.capacity, { cpu: 2, memoryMiB: 1024, gpu: 0 });
    assert.deepEqual(node.cachedImages, [IMAGE_A]);
    assert.deepEqual(node.runningPods, ['pod-1']);
  });

  test('every applied node change is published on nodes:changed; heartbeats and refused writes are not', async () => {
    const { nodes, prefix } = scope();
    const subscriber = new Redis(REDIS);
    const seen: string[] = [];
    const stop = await watchNodeChanges(subscriber, prefix, (id) => seen.push(id));
    try {
      await nodes.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
      await nodes.applyInventory('n1', 's1', { images: [], runningPods: [], checkpoints: [] });
      await nodes.applyDelta('n1', 's1', { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [] });
      await nodes.touch('n1', 's1');
      await nodes.touch('n1', 'stale');
      await nodes.setCordoned('n1', true);
      await nodes.setCordoned('ghost', true);
      await nodes.heartbeat('n1', []);
      await nodes.addCachedDigest('n1', DIGEST_B, 7);
      await nodes.register(registration('n2', { cpu: 1, memoryMiB: 512, gpu: 0 }));
      await nodes.deregister('n2');
      // register, inventory, delta, cordon, sessionless heartbeat (it replaces the images), added image; not the touches.
      const expected = ['n1', 'n1', 'n1', 'n1', 'n1', 'n1', 'n2', 'n2'];
      const deadline = Date.now() + 2_000;
      while (seen.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, expected);
    } finally {
      await stop();
      subscriber.disconnect();
    }
  });
});
