import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId, normaliseSpec } from '@warmpod/domain';
import { NodeRepository, type NodeRegistration } from './node-repository';
import { NodeSessions } from './node-sessions';
import { NodeReservations } from './node-reservations';
import { PinRepository, type NewPin } from './pin-repository';
import { PodRepository } from './pod-repository';
import { AbandonedPulls } from './prepull-abandon';
import { PrepullHintBook } from './prepull-hints';
import { ProtectedDigests } from './prepull-protected';
import { PrepullStatus } from './prepull-status';
import { PodImageUsage } from './prepull-usage';
import { PullRepository } from './pull-repository';
import { PrepullHints } from './image-repository';
import { freshPrefix, redis, useSpecRedis } from './testing/spec-redis';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const BUDGET = { cluster: 4, perNode: 2 };

const scope = freshPrefix;

function registration(id: string, labels: Record<string, string> = {}): NodeRegistration {
  return { id, labels, capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 }, agentUrl: 'http://127.0.0.1:1', capabilities: {} };
}

function newPin(id: string, digest: string, over: Partial<NewPin> = {}): NewPin {
  return {
    id,
    tenant: 't1',
    requested: 'app:latest',
    reference: 'registry.local/app:latest',
    pinned: `registry.local/app@${digest}`,
    digest,
    nodeSelector: {},
    createdAt: new Date().toISOString(),
    ...over,
  };
}

useSpecRedis();

describe('PrepullStatus', () => {
  test('per pin and node: ready from the inventory without a pull, queued, pulling with bytes, failed with reason', async () => {
    const prefix = scope();
    const nodes = new NodeRepository(redis, prefix);
    const pulls = new PullRepository(redis, prefix);
    const pins = new PinRepository(redis, prefix);
    const sessions = new NodeSessions(redis, prefix);
    for (const id of ['n1', 'n2', 'n3', 'n4']) await sessions.register(registration(id, { zone: id === 'n4' ? 'b' : 'a' }), '');
    await nodes.addCachedDigest('n1', D('a'), 10);
    const { pin } = await pins.create(newPin('pin-1', D('a'), { nodeSelector: { zone: 'a' } }));

    assert.equal(await pulls.claim('n2', D('a'), pin.pinned, BUDGET), 'claimed');
    await pulls.progress('n2', D('a'), { bytesDone: 5, bytesTotal: 10, layersDone: 1, layersTotal: 2, attempt: 1 });
    assert.equal(await pulls.claim('n3', D('a'), pin.pinned, BUDGET), 'claimed');
    await pulls.finish('n3', D('a'), { state: 'failed', reason: 'registry said 500' });

    const [status] = await new PrepullStatus(redis, prefix, 60_000).forTenant('t1');
    assert.equal(status!.pin.id, 'pin-1');
    assert.equal(status!.ready, 1);
    assert.deepEqual(
      status!.nodes.map((n) => ({ ...n, ...('updatedAt' in n ? { updatedAt: 'x' } : {}) })),
      [
        { node: 'n1', state: 'ready' },
        { node: 'n2', state: 'pulling', bytesDone: 5, bytesTotal: 10, layersDone: 1, layersTotal: 2, updatedAt: 'x' },
        { node: 'n3', state: 'failed', reason: 'registry said 500', attempts: 1, updatedAt: 'x' },
      ],
    );

    await nodes.setCordoned('n1', true);
    const [again] = await new PrepullStatus(redis, prefix, 60_000).forPins([pin]);
    assert.equal(again!.nodes[0]!.state, 'ready', 'a cordoned node that holds the digest is still shown');
    await pulls.finish('n2', D('a'), { state: 'ready' });
    const [last] = await new PrepullStatus(redis, prefix, 60_000).forPins([pin]);
    assert.deepEqual(last!.nodes.find((n) => n.node === 'n2')?.state, 'ready');
  });

  test('a Ready target with no pull yet is queued; no pins reads nothing', async () => {
    const prefix = scope();
    await new NodeSessions(redis, prefix).register(registration('n1'), '');
    const { pin } = await new PinRepository(redis, prefix).create(newPin('pin-2', D('b')));
    const status = new PrepullStatus(redis, prefix, 60_000);
    assert.deepEqual((await status.forPins([pin]))[0]!.nodes, [{ node: 'n1', state: 'queued' }]);
    assert.deepEqual(await status.forPins([]), []);
  });
});

describe('ProtectedDigests', () => {
  test('sync replaces each node set, empties sets of nodes with nothing protected and drops departed nodes', async () => {
    const prefix = scope();
    const store = new ProtectedDigests(redis, prefix);
    assert.deepEqual(
      await store.sync(
        new Map([
          ['n1', new Set([D('a'), D('b')])],
          ['n2', new Set([D('a')])],
        ]),
      ),
      ['n1', 'n2'],
    );
    assert.deepEqual(await store.get('n1'), [D('a'), D('b')]);
    assert.equal(await store.isProtected('n2', D('a')), true);
    assert.equal(await redis.exists(`${prefix}prepull:protected:n1`), 1, 'documented key');
    assert.deepEqual(
      await store.sync(
        new Map([
          ['n1', new Set([D('a'), D('b')])],
          ['n2', new Set([D('a')])],
        ]),
      ),
      [],
      'no change, no write',
    );
    assert.deepEqual(await store.sync(new Map([['n1', new Set([D('b')])]])), ['n1', 'n2']);
    assert.deepEqual(await store.get('n1'), [D('b')]);
    assert.deepEqual(await store.get('n2'), []);
    assert.deepEqual(await redis.smembers(`${prefix}prepull:protected:nodes`), ['n1']);
  });
});

describe('PrepullHintBook', () => {
  test('lists scheduler hints with their age, agrees on one node per hint, and removes a hint with its node', async () => {
    const prefix = scope();
    const ref = `registry.local/app@${D('c')}`;
    await new PrepullHints(redis, prefix).hint(ref);
    const book = new PrepullHintBook(redis, prefix);
    const [hint] = await book.list();
    assert.equal(hint!.pinned, ref);
    assert.ok(Math.abs(hint!.since - Date.now()) < 5_000);
    assert.equal(await book.assign(ref, undefined, 'n1'), 'n1');
    assert.equal(await book.assign(ref, undefined, 'n2'), 'n1', 'a second replica takes the first choice');
    assert.equal(await book.assign(ref, 'n1', 'n2'), 'n2', 'moving off a known choice');
    assert.equal((await book.list())[0]!.node, 'n2');
    await book.remove(ref);
    assert.deepEqual(await book.list(), []);
    assert.equal(await redis.hexists(`${prefix}prepull:hints:node`, ref), 0);
  });
});

describe('AbandonedPulls', () => {
  test('gives back the slots of in-flight pulls on a node, once, and leaves ended pulls alone', async () => {
    const prefix = scope();
    const pulls = new PullRepository(redis, prefix);
    await pulls.claim('n1', D('a'), 'r/a@x', BUDGET);
    await pulls.claim('n1', D('b'), 'r/b@x', BUDGET);
    await pulls.claim('n2', D('a'), 'r/a@x', BUDGET);
    await pulls.finish('n1', D('b'), { state: 'ready' });
    await pulls.claim('n1', D('c'), 'r/c@x', BUDGET);
    const abandoned = new AbandonedPulls(redis, prefix);
    assert.deepEqual((await abandoned.release('n1', 'node lost')).sort(), [D('a'), D('c')]);
    assert.deepEqual(await pulls.inflight(), { total: 1, perNode: { n2: 1 } });
    assert.equal((await pulls.get('n1', D('a')))?.reason, 'node lost');
    assert.equal((await pulls.get('n1', D('b')))?.state, 'ready');
    assert.deepEqual(await abandoned.release('n1', 'node lost'), []);
    assert.equal((await pulls.inflight()).total, 1);
  });
});

describe('PodImageUsage', () => {
  test('digests of pods reserved on or running on each node', async () => {
    const prefix = scope();
    const pods = new PodRepository(redis, prefix);
    const sessions = new NodeSessions(redis, prefix);
    await sessions.register(registration('n1'), '');
    await sessions.register(registration('n2'), '');
    const podOn = async (digest: string) => {
      const id = newId('pod', Date.now());
      const spec = normaliseSpec({ image: 'app:latest', resources: { cpu: 0.1, memoryMiB: 16, gpu: 0 } });
      await pods.create({
        id,
        tenant: 't1',
        createdAt: new Date().toISOString(),
        labels: {},
        image: { requested: 'app', pinned: `r.local/app@${digest}`, digest },
        spec,
      });
      return id;
    };
    const reserved = await podOn(D('a'));
    const running = await podOn(D('b'));
    const reservations = new NodeReservations(redis, prefix);
    assert.equal((await reservations.tryReserve('n1', reserved, { cpu: 0.1, memoryMiB: 16, gpu: 0 })).reserved, true);
    const usage = new PodImageUsage(redis, prefix);
    const byNode = await usage.byNode([
      { id: 'n1', runningPods: [] },
      { id: 'n2', runningPods: [running, 'pod-unknown'] },
    ]);
    assert.deepEqual([...byNode.get('n1')!], [D('a')]);
    assert.deepEqual([...byNode.get('n2')!], [D('b')]);
    await reservations.release('n1', reserved);
    assert.deepEqual([...(await usage.byNode([{ id: 'n1', runningPods: [] }])).get('n1')!], []);
  });
});
