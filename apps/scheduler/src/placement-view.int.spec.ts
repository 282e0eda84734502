import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { PodPlacementRequest, Resources } from '@warmpod/domain';
import { createLogger } from '@warmpod/observability';
import { Keys, NodeRepository, NodeReservations, NodeSessions } from '@warmpod/store';
import { dropKeys, redisUrl } from '@warmpod/devkit';
import { PlacementView } from './placement-view';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'placement-view-int', level: 'silent' });
const DIGEST = `sha256:${'5'.repeat(64)}`;
const POD: Resources = { cpu: 1, memoryMiB: 256, gpu: 0 };
const request: PodPlacementRequest = { digest: DIGEST, layers: [], resources: POD, nodeSelector: {} };

let redis: Redis;
let counter = 0;
const views: PlacementView[] = [];

async function scope(readyWindowMs = 60_000) {
  const prefix = `${filePrefix}${++counter}:`;
  const nodes = new NodeRepository(redis, prefix);
  const sessions = new NodeSessions(redis, prefix);
  const reservations = new NodeReservations(redis, prefix);
  const view = new PlacementView(redis, reservations, prefix, readyWindowMs, logger);
  views.push(view);
  const addNode = async (id: string, cpu = 2) => {
    await sessions.register(
      { id, labels: {}, capacity: { cpu, memoryMiB: 4096, gpu: 0 }, agentUrl: 'http://127.0.0.1:1', capabilities: {} },
      `s-${id}`,
    );
    assert.equal(await sessions.applyInventory(id, `s-${id}`, { images: [], runningPods: [], checkpoints: [] }), 'applied');
  };
  return { prefix, nodes, sessions, reservations, view, addNode };
}

async function until(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(() => {
  redis = new Redis(redisUrl());
});

after(async () => {
  await Promise.all(views.map((v) => v.stop()));
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

describe('PlacementView on real Redis', () => {
  test('a freed-capacity message updates the node from the usage it carries, without reading it', async () => {
    const { prefix, reservations, view, addNode } = await scope();
    await addNode('n1');
    await view.start();
    assert.equal(await view.reserve('n1', 'pod-a', POD), true);
    assert.equal(await view.reserve('n1', 'pod-b', POD), true);
    assert.equal(view.plan(request).feasible, 0, 'full after two reservations');

    // Redis still says full; only the (forged) message says one cpu is free, at the current revision.
    await redis.publish(new Keys(prefix).capacityFreed(), 'n1 1000 256 0 2');
    await until(() => view.plan(request).feasible === 1, 'the view took the usage from the message');
    // An older revision (a message overtaken by a later reservation) is ignored.
    await redis.publish(new Keys(prefix).capacityFreed(), 'n1 0 0 0 1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await view.reserve('n1', 'pod-c', POD), false, 'the store is the real check');
    assert.equal(view.plan(request).feasible, 0, 'the reply corrected the view');

    await reservations.release('n1', 'pod-a');
    await until(() => view.plan(request).feasible === 1, 'a real release frees the room in the view');
  });

  test('resyncs never overlap: a call while one runs joins it', async () => {
    const { prefix, view, addNode } = await scope();
    for (const id of ['n1', 'n2', 'n3']) await addNode(id);
    const spy = new Redis(redisUrl());
    let listings = 0;
    const original = spy.smembers.bind(spy);
    spy.smembers = ((key: string) => {
      listings++;
      return original(key);
    }) as typeof spy.smembers;
    const spied = new PlacementView(spy, new NodeReservations(spy, prefix), prefix, 60_000, logger);
    try {
      const runs = [spied.resync(), spied.resync(), spied.resync()];
      assert.equal(runs[0], runs[1]);
      await Promise.all(runs);
      assert.equal(listings, 1);
      await spied.resync();
      assert.equal(listings, 2);
      assert.equal(spied.plan(request).feasible, 3);
    } finally {
      await spied.stop();
      spy.disconnect();
    }
    assert.equal(view.plan(request).feasible, 0, 'a view not started or resynced knows nothing');
  });

  test('heartbeats are not announced, yet a beating node stays ready and a silent one drops out', async () => {
    const { sessions, view, addNode } = await scope(600);
    await addNode('n1');
    await view.start();
    assert.equal(view.plan(request).feasible, 1);
    const beat = setInterval(() => void sessions.touch('n1', 's-n1'), 100);
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(view.plan(request).feasible, 1, 'readiness was re-read from the heartbeats');
    } finally {
      clearInterval(beat);
    }
    await until(() => view.plan(request).rejections['not ready'] === 1, 'a silent node is not ready', 3_000);
  });

  test('an inventory change is picked up; a cordon without one does not re-read the images', async () => {
    const { nodes, view, addNode } = await scope();
    await addNode('n1');
    await view.start();
    assert.equal(view.plan(request).candidates[0]?.why.includes('pinned digest'), false);
    await nodes.addCachedDigest('n1', DIGEST, 10);
    await until(() => view.plan(request).candidates[0]?.why.includes('pinned digest') === true, 'the cached digest counts');
    await nodes.setCordoned('n1', true);
    await until(() => view.plan(request).rejections.cordoned === 1, 'the cordon counts');
    await nodes.setCordoned('n1', false);
    await until(() => view.plan(request).candidates[0]?.why.includes('pinned digest') === true, 'uncordoned, still holding the digest');
  });
});
