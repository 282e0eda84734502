import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ChangeFeed, NodeChangeFeed } from './change-feed';
import type { NodeChange } from './change-messages';
import { Keys } from './keys';
import { NodeLiveness } from './node-liveness';
import { deregister, IMAGE_A, DIGEST_B, inventory, redis, REDIS, registration, reserve, scope, useNodeStore } from './testing/node-fixture';

useNodeStore();

async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  // Anything published after would show up here.
  await new Promise((r) => setTimeout(r, 50));
}

describe('ChangeFeed', () => {
  test('each change a real script makes reaches the subscriber with what changed', async () => {
    const s = scope();
    const feed = new NodeChangeFeed(redis, s.prefix, { warn: () => undefined });
    const seen: NodeChange[] = [];
    await feed.subscribe((change) => seen.push(change));
    try {
      await s.sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
      await s.sessions.applyInventory('n1', 's1', inventory([]));
      await s.sessions.applyDelta('n1', 's1', { addedImages: [IMAGE_A], removedImages: [], runningPods: [], checkpoints: [] });
      await s.sessions.touch('n1', 's1');
      await s.nodes.addCachedDigest('n1', DIGEST_B, 7);
      await s.nodes.setCordoned('n1', true);
      await redis.hset(new Keys(s.prefix).node('n1'), 'heartbeatAt', new Date(0).toISOString());
      assert.equal(await new NodeLiveness(redis, s.prefix).markLost('n1', new Date()), true);
      await deregister(s.prefix, 'n1');
      const expected: NodeChange['what'][] = ['registered', 'inventory', 'inventory', 'inventory', 'cordon', 'lost', 'deregistered'];
      await until(() => seen.length >= expected.length);
      assert.deepEqual(
        seen,
        expected.map((what) => ({ nodeId: 'n1', what })),
      );
    } finally {
      await feed.close();
    }
  });

  test('malformed messages are logged and dropped; the feed goes on', async () => {
    const s = scope();
    const keys = new Keys(s.prefix);
    const warnings: Array<Record<string, unknown>> = [];
    const feed = new ChangeFeed(redis, s.prefix, { warn: (fields) => warnings.push(fields) });
    const nodes: NodeChange[] = [];
    const freed: string[] = [];
    await feed.subscribe({ nodes: (c) => nodes.push(c), capacityFreed: (u) => freed.push(`${u.nodeId} ${u.usageRev}`) });
    const publisher = new Redis(REDIS);
    try {
      await publisher.publish(keys.nodesChanged(), 'n1');
      await publisher.publish(keys.nodesChanged(), '{"nodeId":"n1","what":"heartbeat"}');
      await publisher.publish(keys.capacityFreed(), 'pod-1');
      await s.sessions.register(registration('n1', { cpu: 1, memoryMiB: 512, gpu: 0 }), 's1');
      assert.equal(await reserve(s, 'n1', 'pod-1', { cpu: 1, memoryMiB: 1, gpu: 0 }), true);
      await s.reservations.release('n1', 'pod-1');
      await until(() => nodes.length >= 1 && freed.length >= 1);
      assert.deepEqual(nodes, [{ nodeId: 'n1', what: 'registered' }]);
      assert.deepEqual(freed, ['n1 2']);
      assert.deepEqual(
        warnings.map((w) => w['topic']),
        ['nodes', 'nodes', 'capacityFreed'],
      );
    } finally {
      publisher.disconnect();
      await feed.close();
    }
  });
});
