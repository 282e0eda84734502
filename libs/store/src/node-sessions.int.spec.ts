import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { keysUnder } from '@warmpod/devkit';
import { NodeFactsReader } from './node-facts';
import { NodeChangeFeed } from './change-feed';
import {
  IMAGE_A,
  IMAGE_B,
  IMAGE_C,
  REDIS,
  redis,
  registration,
  scope,
  sortImages,
  useNodeStore,
  DIGEST_A,
  DIGEST_B,
  DIGEST_C,
  LAYER,
  deregister,
  inventory,
  reserve,
} from './testing/node-fixture';

useNodeStore();

describe('NodeSessions: inventories, deltas, revisions and change messages', () => {
  test('a session inventory lands with image sizes and layers, running pods, checkpoints and usage', async () => {
    const s = scope();
    const { nodes, sessions, prefix } = s;
    await sessions.register(
      registration('n1', { cpu: 4, memoryMiB: 8192, gpu: 2 }, { gpus: [{ model: 'sim-a100', count: 2 }] }),
      'session-1',
    );
    const registered = (await nodes.get('n1'))!;
    assert.equal(registered.sessionId, 'session-1');
    assert.deepEqual(registered.gpus, [{ model: 'sim-a100', count: 2 }]);

    const result = await sessions.applyInventory('n1', 'session-1', {
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
    assert.deepEqual(await keysUnder(redis, prefix), [`layers:${DIGEST_A}`, `layers:${DIGEST_B}`, 'node:n1', 'node:n1:images', 'nodes']);
    assert.deepEqual(await redis.hgetall(`${prefix}node:n1:images`), {
      [DIGEST_A]: `${IMAGE_A.sizeBytes} 2`,
      [DIGEST_B]: `${IMAGE_B.sizeBytes} 1`,
    });
  });

  test('two nodes holding one digest share its layer record and read back the same images', async () => {
    const s = scope();
    const { nodes, sessions, prefix } = s;
    for (const id of ['n1', 'n2']) {
      await sessions.register(registration(id, { cpu: 1, memoryMiB: 512, gpu: 0 }), `s-${id}`);
      await sessions.applyInventory(id, `s-${id}`, { images: [IMAGE_A, IMAGE_C], runningPods: [], checkpoints: [] });
    }
    await nodes.addCachedDigest('n2', DIGEST_B, IMAGE_B.sizeBytes, IMAGE_B.layers);
    assert.deepEqual(sortImages((await nodes.get('n1'))!.cachedImages!), [IMAGE_A, IMAGE_C]);
    assert.deepEqual(sortImages((await nodes.get('n2'))!.cachedImages!), [IMAGE_A, IMAGE_B, IMAGE_C]);
    assert.deepEqual(
      (await keysUnder(redis, prefix)).filter((k) => k.startsWith('layers:')),
      [`layers:${DIGEST_A}`, `layers:${DIGEST_B}`],
    );
    // An entry written by an earlier version (JSON with its layers) still reads back.
    await redis.hset(`${prefix}node:n1:images`, DIGEST_B, JSON.stringify({ sizeBytes: 7, layers: [LAYER('9', 7)] }));
    assert.deepEqual(sortImages((await nodes.get('n1'))!.cachedImages!)[1], { digest: DIGEST_B, sizeBytes: 7, layers: [LAYER('9', 7)] });
  });

  test('the inventory revision moves with image changes only; facts read without images', async () => {
    const s = scope();
    const { nodes, sessions, prefix } = s;
    const facts = new NodeFactsReader(redis, prefix);
    await sessions.register(registration('n1', { cpu: 2, memoryMiB: 512, gpu: 0 }), 's1');
    await sessions.applyInventory('n1', 's1', {
      images: [IMAGE_A],
      runningPods: [],
      checkpoints: [{ id: 'ck-1', key: 'k1', state: 'available', sizeBytes: 1 }],
    });
    const rev = async () => (await facts.read(['n1']))[0]!.imagesRev;
    const first = await rev();
    assert.equal(await sessions.touch('n1', 's1'), 'applied');
    await nodes.setCordoned('n1', true);
    await sessions.applyDelta('n1', 's1', { addedImages: [], removedImages: [], runningPods: ['p'], checkpoints: [] });
    assert.equal(await rev(), first, 'liveness, cordon and pod lists leave the inventory revision');
    await sessions.applyDelta('n1', 's1', { addedImages: [IMAGE_B], removedImages: [], runningPods: [], checkpoints: [] });
    const second = await rev();
    assert.notEqual(second, first);
    await nodes.addCachedDigest('n1', DIGEST_C, 99);
    assert.notEqual(await rev(), second);

    await reserve(s, 'n1', 'pod-a', { cpu: 1, memoryMiB: 1, gpu: 0 });
    const [read, missing] = await facts.read(['n1', 'ghost']);
    assert.equal(missing, undefined);
    assert.deepEqual(
      { cordoned: read!.cordoned, allocated: read!.allocated, usageRev: read!.usageRev },
      { cordoned: true, allocated: { cpu: 1, memoryMiB: 1, gpu: 0 }, usageRev: 1 },
    );
    assert.deepEqual(sortImages((await facts.images(['n1']))[0]!), [IMAGE_A, IMAGE_B, IMAGE_C]);
  });

  test('a delta removes and adds images and replaces the running pods; a touch only refreshes liveness', async () => {
    const s = scope();
    const { nodes, sessions } = s;
    await sessions.register(registration('n1', { cpu: 4, memoryMiB: 8192, gpu: 0 }), 's1');
    await sessions.applyInventory('n1', 's1', { images: [IMAGE_A, IMAGE_B], runningPods: ['pod-1'], checkpoints: [] });
    const inventoryAt = (await nodes.get('n1'))!.inventoryAt;

    assert.equal(
      await sessions.applyDelta('n1', 's1', {
        addedImages: [IMAGE_C],
        removedImages: [DIGEST_A],
        runningPods: ['pod-2', 'pod-3'],
        checkpoints: [],
      }),
      'applied',
    );
    let node = (await nodes.get('n1'))!;
    assert.deepEqual(sortImages(node.cachedImages!), [IMAGE_B, IMAGE_C]);
    assert.deepEqual(node.runningPods, ['pod-2', 'pod-3']);
    assert.equal(node.reportedUsage, undefined);
    assert.equal(node.inventoryAt, inventoryAt, 'a delta is not a full inventory');

    const before = node.heartbeatAt;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await sessions.touch('n1', 's1'), 'applied');
    node = (await nodes.get('n1'))!;
    assert.ok(node.heartbeatAt > before);
    assert.deepEqual(sortImages(node.cachedImages!), [IMAGE_B, IMAGE_C]);
  });

  test('session writes are refused for an unknown node, a stale session and a lost node, and store nothing', async () => {
    const s = scope();
    const { nodes, sessions, prefix } = s;
    const empty = { images: [IMAGE_A], runningPods: [], checkpoints: [] };
    assert.equal(await sessions.applyInventory('ghost', 's1', empty), 'unknown-node');
    assert.equal(await sessions.touch('ghost', 's1'), 'unknown-node');
    assert.deepEqual(await keysUnder(redis, prefix), []);

    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'old');
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'new');
    assert.equal(await sessions.applyInventory('n1', 'old', empty), 'stale-session');
    assert.equal(
      await sessions.applyDelta('n1', 'old', { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [] }),
      'stale-session',
    );
    assert.equal(await sessions.touch('n1', 'old'), 'stale-session');
    assert.deepEqual((await nodes.get('n1'))!.cachedImages, []);

    await redis.hset(`${prefix}node:n1`, 'lostAt', new Date().toISOString());
    assert.equal(await sessions.touch('n1', 'new'), 'node-lost');
    assert.ok((await nodes.get('n1'))!.lostAt);
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 'newest');
    assert.equal((await nodes.get('n1'))!.lostAt, undefined, 'registering again clears the lost mark');
    assert.equal(await sessions.applyInventory('n1', 'newest', empty), 'applied');
  });

  test('re-registering keeps the cordon flag and the last inventory', async () => {
    const s = scope();
    const { nodes, sessions } = s;
    await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
    await sessions.applyInventory('n1', 's1', { images: [IMAGE_A], runningPods: ['pod-1'], checkpoints: [] });
    await nodes.setCordoned('n1', true);
    await sessions.register(registration('n1', { cpu: 2, memoryMiB: 1024, gpu: 0 }), 's2');
    const node = (await nodes.get('n1'))!;
    assert.equal(node.cordoned, true);
    assert.deepEqual(node.capacity, { cpu: 2, memoryMiB: 1024, gpu: 0 });
    assert.deepEqual(node.cachedImages, [IMAGE_A]);
    assert.deepEqual(node.runningPods, ['pod-1']);
  });

  test('every applied node change is published on nodes:changed; touches and refused writes are not', async () => {
    const s = scope();
    const { nodes, sessions, prefix } = s;
    const subscriber = new Redis(REDIS);
    const seen: string[] = [];
    const feed = new NodeChangeFeed(subscriber, prefix, { warn: () => undefined });
    await feed.subscribe((change) => seen.push(change.nodeId));
    const stop = () => feed.close();
    try {
      await sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
      await sessions.applyInventory('n1', 's1', { images: [], runningPods: [], checkpoints: [] });
      await sessions.applyDelta('n1', 's1', { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [] });
      await sessions.touch('n1', 's1');
      await sessions.touch('n1', 'stale');
      await nodes.setCordoned('n1', true);
      await nodes.setCordoned('ghost', true);
      await sessions.applyInventory('n1', 's1', inventory([]));
      await nodes.addCachedDigest('n1', DIGEST_B, 7);
      await sessions.register(registration('n2', { cpu: 1, memoryMiB: 512, gpu: 0 }), '');
      await deregister(prefix, 'n2');
      // register, inventory, delta, cordon, a second inventory, added image; registration and removal of n2; not the touches.
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
