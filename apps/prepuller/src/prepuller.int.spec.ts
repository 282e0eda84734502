import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { newId, normaliseSpec } from '@warmpod/domain';
import { createLogger } from '@warmpod/observability';
import {
  AbandonedPulls,
  ImageRepository,
  Keys,
  NodeLiveness,
  NodeRepository,
  NodeReservations,
  NodeSessions,
  PinRepository,
  PodImageUsage,
  PodRepository,
  PrepullHintBook,
  PrepullHints,
  prepullHintsChannel,
  ProtectedDigests,
  PullRepository,
  type NewPin,
} from '@warmpod/store';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import type { PullDispatcher } from './pull-dispatcher';
import { PrepullLoop } from './prepull-loop';
import { PrepullReconciler, type PrepullSettings } from './prepull-reconciler';
import { RegistryRateLimiter } from './registry-rate';
import { FakeAgents, type AgentBehaviour } from './testing/fake-agents';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'prepuller-int', level: 'silent' });
const REGISTRY = 'registry.local:5000';
const D = (c: string) => `sha256:${c.repeat(64)}`;
const RESOURCES = { cpu: 0.1, memoryMiB: 16, gpu: 0 };
let redis: Redis;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];

interface Cluster {
  prefix: string;
  nodes: NodeRepository;
  sessions: NodeSessions;
  reservations: NodeReservations;
  pins: PinRepository;
  pulls: PullRepository;
  agents: FakeAgents;
  protectedDigests: ProtectedDigests;
  /** Starts one prepuller replica (its own connection, reconciler and loop). */
  replica(
    over?: Partial<PrepullSettings & { registryRate: number; dispatcher: PullDispatcher }>,
  ): Promise<{ reconciler: PrepullReconciler; loop: PrepullLoop }>;
}

async function cluster(behaviour?: AgentBehaviour): Promise<Cluster> {
  const prefix = `${filePrefix}${++counter}:`;
  const nodes = new NodeRepository(redis, prefix);
  const pulls = new PullRepository(redis, prefix);
  const agents = new FakeAgents(pulls, nodes, behaviour);
  return {
    prefix,
    nodes,
    sessions: new NodeSessions(redis, prefix),
    reservations: new NodeReservations(redis, prefix),
    pins: new PinRepository(redis, prefix),
    pulls,
    agents,
    protectedDigests: new ProtectedDigests(redis, prefix),
    async replica(over = {}) {
      const conn = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
      const settings: PrepullSettings = {
        budget: over.budget ?? { cluster: 4, perNode: 2 },
        readyWindowMs: 60_000,
        retryAfterMs: over.retryAfterMs ?? 60_000,
        hintTtlMs: over.hintTtlMs ?? 3_600_000,
      };
      const reconciler = new PrepullReconciler(
        {
          pins: new PinRepository(conn, prefix),
          nodes: new NodeRepository(conn, prefix),
          pulls: new PullRepository(conn, prefix),
          images: new ImageRepository(conn, prefix),
          hints: new PrepullHintBook(conn, prefix),
          protectedDigests: new ProtectedDigests(conn, prefix),
          usage: new PodImageUsage(conn, prefix),
          abandoned: new AbandonedPulls(conn, prefix),
          dispatcher: over.dispatcher ?? agents,
          limiter: new RegistryRateLimiter(over.registryRate ?? 1_000),
        },
        settings,
        logger,
      );
      // The safety timer is far away: everything here must be driven by change messages.
      const loop = new PrepullLoop(
        conn,
        prefix,
        reconciler,
        new NodeRepository(conn, prefix),
        { debounceMs: 20, resyncMs: 600_000, readyWindowMs: 60_000, errorRetryMs: 200 },
        logger,
      );
      await loop.start();
      cleanups.push(async () => {
        await loop.stop();
        await conn.quit();
      });
      return { reconciler, loop };
    },
  };
}

function register(c: Cluster, id: string, labels: Record<string, string> = {}): Promise<void> {
  return c.sessions.register(
    { id, labels, capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 }, agentUrl: 'http://127.0.0.1:1', capabilities: {} },
    sessionOf(id),
  );
}

const sessionOf = (id: string): string => `s-${id}`;

/** What an agent's (empty) inventory report does: refreshes liveness and announces the node. */
async function report(c: Cluster, id: string): Promise<void> {
  assert.equal(await c.sessions.applyInventory(id, sessionOf(id), { images: [], runningPods: [], checkpoints: [] }), 'applied');
}

function pin(id: string, digest: string, over: Partial<NewPin> = {}): NewPin {
  return {
    id,
    tenant: 't1',
    requested: 'app:latest',
    reference: `${REGISTRY}/app:latest`,
    pinned: `${REGISTRY}/app@${digest}`,
    digest,
    nodeSelector: {},
    createdAt: new Date().toISOString(),
    ...over,
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

afterEach(async () => {
  for (const stop of cleanups.splice(0)) await stop();
});

after(async () => {
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

describe('prepuller on real Redis', () => {
  test('three racing replicas never exceed the cluster budget or the per-node limit, and pull each digest once per node', async () => {
    const c = await cluster();
    const nodeIds = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
    for (const id of nodeIds) await register(c, id);
    let maxClaimed = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { total, perNode } = await c.pulls.inflight();
        maxClaimed = Math.max(maxClaimed, total);
        assert.ok(
          Object.values(perNode).every((n) => n <= 2),
          `per-node limit exceeded: ${JSON.stringify(perNode)}`,
        );
        await sleep(2);
      }
    })();
    for (let r = 0; r < 3; r++) await c.replica();
    const digests = ['1', '2', '3', '4', '5'].map(D);
    for (const [i, d] of digests.entries())
      await c.pins.create(pin(`pin-${i}`, d, { reference: `${REGISTRY}/app${i}:latest`, pinned: `${REGISTRY}/app${i}@${d}` }));

    await until('the budget filled', () => c.agents.active === 4);
    await sleep(100);
    assert.equal(c.agents.dispatched.length, 4, 'nothing beyond the budget while it is full');

    // The agents end pulls in random order, a few milliseconds apart; every end frees a slot the replicas race for.
    const done = async () => (await c.nodes.list()).every((n) => digests.every((d) => n.cachedImages?.some((i) => i.digest === d)));
    const deadline = Date.now() + 20_000;
    while (!(await done())) {
      assert.ok(Date.now() < deadline, 'timed out warming every node');
      const pending = c.agents.pendingPulls();
      const next = pending[Math.floor(Math.random() * pending.length)];
      if (next) await c.agents.complete(next[0], next[1], 'ready');
      await sleep(Math.floor(Math.random() * 8));
    }
    sampling = false;
    await sampler;
    assert.ok(c.agents.maxActive <= 4, `max concurrent pulls ${c.agents.maxActive}`);
    assert.ok(c.agents.maxOnOneNode <= 2, `max concurrent pulls on one node ${c.agents.maxOnOneNode}`);
    assert.ok(maxClaimed <= 4, `max claimed slots ${maxClaimed}`);
    assert.equal(c.agents.dispatched.length, nodeIds.length * digests.length, 'one pull per (node, digest)');
    assert.equal(c.agents.duplicates, 0);
    assert.deepEqual(await c.pulls.inflight(), { total: 0, perNode: {} });
  });

  test('a node that joins is warmed with every pin that targets it at once, without a new pin', async () => {
    const c = await cluster();
    await register(c, 'n1', { pool: 'gpu' });
    await c.replica();
    await c.pins.create(pin('pin-all', D('a')));
    await c.pins.create(
      pin('pin-gpu', D('b'), { reference: `${REGISTRY}/ml:latest`, pinned: `${REGISTRY}/ml@${D('b')}`, nodeSelector: { pool: 'gpu' } }),
    );
    await c.pins.create(
      pin('pin-cpu', D('c'), { reference: `${REGISTRY}/web:latest`, pinned: `${REGISTRY}/web@${D('c')}`, nodeSelector: { pool: 'cpu' } }),
    );
    await until('n1 warmed', () => c.agents.dispatched.length === 2);

    const joinedAt = Date.now();
    await register(c, 'n2', { pool: 'gpu' });
    await until('n2 warmed with both of its pins', () => c.agents.dispatched.filter((d) => d.node === 'n2').length === 2, 2_000);
    assert.ok(Date.now() - joinedAt < 2_000);
    assert.deepEqual(
      c.agents.dispatched
        .filter((d) => d.node === 'n2')
        .map((d) => d.digest)
        .sort(),
      [D('a'), D('b')],
    );
    assert.deepEqual(await c.protectedDigests.get('n2'), [D('a'), D('b')]);
  });

  test('a report that changes nothing does not start a pass; a node heard again after a silence does', async () => {
    const c = await cluster();
    await register(c, 'n1');
    const { loop } = await c.replica();
    let passes = 0;
    loop.onPass(() => passes++);
    await until('the first pass', () => passes > 0);
    await sleep(100);
    const before = passes;
    await report(c, 'n1');
    await report(c, 'n1');
    await sleep(150);
    assert.equal(passes, before);

    // The node goes silent past the ready window (seen by a pass), then is heard again.
    await redis.hset(new Keys(c.prefix).node('n1'), 'heartbeatAt', new Date(Date.now() - 120_000).toISOString());
    await redis.publish(new Keys(c.prefix).pinsChanged(), 'wake');
    await until('a pass saw the silence', () => passes > before);
    const silent = passes;
    await report(c, 'n1');
    await until('the return starts a pass', () => passes > silent, 1_000);
  });

  test('a re-pin supersedes; the old pin is dropped only once the new digest is ready everywhere and no pod uses the old one', async () => {
    const c = await cluster();
    const OLD = D('0');
    const NEW = D('f');
    await register(c, 'n1');
    await register(c, 'n2');
    await c.nodes.addCachedDigest('n1', OLD, 10);
    await c.nodes.addCachedDigest('n2', OLD, 10);
    await c.replica();
    await c.pins.create(pin('pin-old', OLD));
    await until('old digest protected', async () => (await c.protectedDigests.get('n1')).includes(OLD));
    assert.equal(c.agents.dispatched.length, 0, 'a node that already had the digest is not asked to pull');

    // A pod admitted before the rebuild runs on n1 with the old digest.
    const pods = new PodRepository(redis, c.prefix);
    const podId = newId('pod', Date.now());
    const spec = normaliseSpec({ image: 'app:latest', resources: RESOURCES });
    await pods.create({
      id: podId,
      tenant: 't1',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'app:latest', pinned: `${REGISTRY}/app@${OLD}`, digest: OLD },
      spec,
    });
    assert.equal((await c.reservations.tryReserve('n1', podId, RESOURCES)).reserved, true);

    const { superseded } = await c.pins.create(pin('pin-new', NEW));
    assert.equal(superseded, 'pin-old');
    await until('new digest dispatched to both nodes', () => c.agents.dispatched.length === 2);
    assert.deepEqual(await c.protectedDigests.get('n1'), [OLD, NEW].sort());
    assert.deepEqual(await c.protectedDigests.get('n2'), [OLD, NEW].sort());

    await c.agents.complete('n2', NEW, 'ready');
    await until('old digest evictable on n2', async () => !(await c.protectedDigests.get('n2')).includes(OLD));
    assert.deepEqual(await c.protectedDigests.get('n1'), [OLD, NEW].sort());
    assert.equal((await c.pins.get('pin-old'))?.state, 'superseded');

    await c.agents.complete('n1', NEW, 'ready');
    await sleep(200);
    assert.equal((await c.pins.get('pin-old'))?.state, 'superseded', 'the pod on n1 still uses the old digest');
    assert.deepEqual(await c.protectedDigests.get('n1'), [OLD, NEW].sort());

    await c.reservations.release('n1', podId);
    await until('old pin dropped', async () => (await c.pins.get('pin-old')) === undefined);
    assert.deepEqual(await c.pins.listSuperseded(), []);
    await until('old digest evictable on n1', async () => (await c.protectedDigests.get('n1')).join() === NEW);
    assert.deepEqual(await c.protectedDigests.get('n2'), [NEW]);
    assert.equal(c.agents.dispatched.length, 2, 'rotation pulled nothing twice');
  });

  test('a failed pull is not dispatched again before the cooldown, then is; a new pin of the digest retries at once', async () => {
    const c = await cluster(() => ({ outcome: 'failed', delayMs: 0 }));
    await register(c, 'n1');
    await c.replica({ retryAfterMs: 1_200 });
    await c.pins.create(pin('pin-1', D('e')));
    await until('first dispatch', () => c.agents.dispatched.length === 1);
    await until('first failure recorded', async () => (await c.pulls.get('n1', D('e')))?.state === 'failed');
    const failedAt = Date.now();
    for (let i = 0; i < 5; i++) {
      // Unrelated changes wake the prepuller; none may re-dispatch the failed pull.
      await redis.publish(new Keys(c.prefix).pinsChanged(), 'other');
      await sleep(100);
    }
    assert.equal(c.agents.dispatched.length, 1);
    await until('retry after the cooldown', () => c.agents.dispatched.length === 2, 3_000);
    assert.ok(c.agents.dispatched[1]!.at - failedAt >= 1_000, `retried after ${c.agents.dispatched[1]!.at - failedAt} ms`);

    await until('second failure recorded', async () => (await c.pulls.get('n1', D('e')))?.state === 'failed');
    await c.pins.remove({ id: 'pin-1', tenant: 't1', reference: `${REGISTRY}/app:latest` });
    await sleep(50);
    await c.pins.create(pin('pin-2', D('e')));
    await until('a new pin retries at once', () => c.agents.dispatched.length === 3, 800);
  });

  test('a scheduler hint is pulled once onto one node across replicas, and dropped once the node holds it', async () => {
    const c = await cluster();
    for (const id of ['n1', 'n2', 'n3']) await register(c, id);
    const replicas = [await c.replica(), await c.replica(), await c.replica()];
    const ref = `${REGISTRY}/batch@${D('9')}`;
    await new PrepullHints(redis, c.prefix).hint(ref);
    await redis.publish(prepullHintsChannel(c.prefix), ref);
    await Promise.all(replicas.flatMap((r) => [r.reconciler.reconcile(), r.reconciler.reconcile()]));
    await until('hint dispatched', () => c.agents.dispatched.length === 1);
    await sleep(200);
    assert.equal(c.agents.dispatched.length, 1);
    const { node } = c.agents.dispatched[0]!;
    assert.equal((await new PrepullHintBook(redis, c.prefix).list())[0]?.node, node);

    await c.agents.complete(node, D('9'), 'ready');
    await until('hint removed', async () => (await new PrepullHintBook(redis, c.prefix).list()).length === 0);
    assert.equal(c.agents.dispatched.length, 1);
  });

  test('pulls on a node that is lost give their slots back; a failed dispatch does too', async () => {
    const c = await cluster();
    await register(c, 'n1');
    await register(c, 'n2');
    await c.replica({ budget: { cluster: 1, perNode: 1 } });
    await c.pins.create(pin('pin-1', D('7')));
    await until('one pull in flight', () => c.agents.dispatched.length === 1);
    const first = c.agents.dispatched[0]!.node;
    await new NodeLiveness(redis, c.prefix).markLost(first, new Date(Date.now() + 1_000));
    await until('slot given back and the other node served', () => c.agents.dispatched.length === 2);
    assert.equal((await c.pulls.get(first, D('7')))?.state, 'failed');
    assert.match((await c.pulls.get(first, D('7')))?.reason ?? '', /lost/);

    const broken = await cluster();
    await register(broken, 'n1');
    await broken.replica({ dispatcher: { dispatch: () => Promise.reject(new Error('queue unavailable')) } });
    await broken.pins.create(pin('pin-1', D('8')));
    await until('dispatch failure recorded', async () => (await broken.pulls.get('n1', D('8')))?.state === 'failed');
    assert.match((await broken.pulls.get('n1', D('8')))?.reason ?? '', /dispatch failed: queue unavailable/);
    assert.deepEqual(await broken.pulls.inflight(), { total: 0, perNode: {} });
  });

  test('the registry rate limit spaces pull starts, woken by a timer rather than polling', async () => {
    const c = await cluster();
    for (const id of ['n1', 'n2', 'n3']) await register(c, id);
    const { loop } = await c.replica({ registryRate: 2 });
    let passes = 0;
    loop.onPass(() => passes++);
    await c.pins.create(pin('pin-1', D('6')));
    await until('all three dispatched', () => c.agents.dispatched.length === 3, 3_000);
    const [a, b, third] = c.agents.dispatched.map((d) => d.at);
    assert.ok(b! - a! < 100, 'the burst of two goes at once');
    assert.ok(third! - a! >= 400, `third start ${third! - a!} ms after the first`);
    assert.ok(passes < 15, `${passes} passes`);
  });
});
