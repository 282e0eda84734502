import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { newId, type PodPhase } from '@warmpod/domain';
import { PodRepository } from './pod-repository';
import { poolPodDefinition } from './pool-pods';
import type { NewPool, PoolRecord } from './pool-record';
import { PoolRepository } from './pool-repository';
import { freshPrefix, redis, REDIS, useSpecRedis } from './testing/spec-redis';

const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;
const GRACE_MS = 30_000;
const extra: Redis[] = [];

interface Scope {
  prefix: string;
  pools: PoolRepository;
  pods: PodRepository;
}

function scope(): Scope {
  const prefix = freshPrefix();
  return { prefix, pools: new PoolRepository(redis, prefix), pods: new PodRepository(redis, prefix) };
}

function newPool(tenant = 'acme', name = 'web', size = 3, digest = OLD): NewPool {
  return {
    id: newId('pool'),
    tenant,
    name,
    createdAt: new Date().toISOString(),
    image: {
      requested: 'team/web:latest',
      reference: 'registry.local:5000/team/web:latest',
      pinned: `registry.local:5000/team/web@${digest}`,
      digest,
    },
    size,
    template: { command: [], args: [], env: {}, ports: [8080], resources: { cpu: 0.1, memoryMiB: 64, gpu: 0 } },
    nodeSelector: {},
  };
}

async function created(s: Scope, pool: NewPool): Promise<PoolRecord> {
  assert.equal(await s.pools.create(pool), 'created');
  return (await s.pools.get(pool.id))!;
}

const PATHS: Record<'Pending' | 'Scheduled' | 'Starting' | 'Running', PodPhase[]> = {
  Pending: [],
  Scheduled: ['Scheduled'],
  Starting: ['Scheduled', 'Starting'],
  Running: ['Scheduled', 'Starting', 'Running'],
};

/** A member pod in `phase`, through the same transitions the scheduler and an agent make. */
async function member(s: Scope, pool: PoolRecord, phase: keyof typeof PATHS, digest = pool.image.digest): Promise<string> {
  const podId = newId('pod');
  assert.equal(await s.pools.admit(pool.id, podId, digest, GRACE_MS), 'admitted');
  await s.pods.create(poolPodDefinition({ ...pool, image: { ...pool.image, digest } }, podId));
  for (const step of PATHS[phase as keyof typeof PATHS])
    assert.ok((await s.pods.transition(podId, step, step === 'Scheduled' ? { node: 'n1' } : {})).applied);
  return podId;
}

/** Raises the pool's size so test set-ups can add members beyond it. */
async function setSize(s: Scope, pool: PoolRecord, size: number): Promise<void> {
  assert.deepEqual(await s.pools.update(pool, { size }), { applied: true, rotated: false });
}

useSpecRedis();

before(() => {
  for (let i = 0; i < 5; i++) extra.push(new Redis(REDIS));
});

after(async () => {
  for (const r of extra) await r.quit();
});

describe('PoolRepository on real Redis', () => {
  test('a name is unique per tenant; another tenant may use it', async () => {
    const s = scope();
    await created(s, newPool('acme', 'web'));
    assert.equal(await s.pools.create(newPool('acme', 'web')), 'exists');
    assert.equal(await s.pools.create(newPool('beta', 'web')), 'created');
    assert.equal((await s.pools.findByName('acme', 'web'))?.tenant, 'acme');
    assert.equal((await s.pools.listByTenant('beta')).length, 1);
  });

  test('50 concurrent claims from 5 connections: every Running pod is handed out once, nothing else is', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'claims', 40));
    const running = new Set<string>();
    for (let i = 0; i < 30; i++) running.add(await member(s, pool, 'Running'));
    const starting = [await member(s, pool, 'Starting'), await member(s, pool, 'Scheduled')];
    const stopping = await member(s, pool, 'Running');
    await s.pods.annotate(stopping, { stopRequested: true });

    const repos = extra.map((r) => new PoolRepository(r, s.prefix));
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => repos[i % repos.length]!.claim(pool)));

    const claimed = outcomes.flatMap((o) => (o.kind === 'claimed' ? [o.podId] : []));
    assert.equal(claimed.length, 30, 'as many claims succeed as there were free Running pods');
    assert.equal(new Set(claimed).size, 30, 'no pod is handed out twice');
    assert.deepEqual(new Set(claimed), running);
    assert.equal(outcomes.filter((o) => o.kind === 'none').length, 20);
    for (const id of claimed) {
      const pod = await s.pods.get(id);
      assert.equal(pod?.phase, 'Running');
      assert.equal(pod?.startMode, 'warm-pool');
      assert.equal(pod?.pool, 'claims');
    }
    assert.deepEqual((await s.pools.members(pool.id)).map((m) => m.podId).sort(), [...starting, stopping].sort());
    assert.equal((await s.pools.stats(pool.id))[`claimed:${OLD}`], 30);
  });

  test('claims take the current digest while one is free, an older one only when none is', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'order', 10));
    const olds = [await member(s, pool, 'Running'), await member(s, pool, 'Running')];
    await s.pools.update(pool, { image: { ...pool.image, pinned: pool.image.pinned.replace(OLD, NEW), digest: NEW } });
    const news = [await member(s, pool, 'Running', NEW), await member(s, pool, 'Running', NEW)];
    await member(s, pool, 'Starting', NEW);

    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const o = await s.pools.claim(pool);
      got.push(o.kind === 'claimed' ? o.digest : o.kind);
    }
    assert.deepEqual(got, [NEW, NEW, OLD, OLD, 'none']);
    assert.ok(news.length === 2 && olds.length === 2);
  });

  test('an idempotency key replays the same warm pod; another body with it is a conflict', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'idem', 3));
    await member(s, pool, 'Running');
    await member(s, pool, 'Running');
    const first = await s.pools.claim(pool, { key: 'k1', bodyHash: 'h1' });
    assert.equal(first.kind, 'claimed');
    const again = await s.pools.claim(pool, { key: 'k1', bodyHash: 'h1' });
    assert.deepEqual(again, { kind: 'replay', podId: first.kind === 'claimed' ? first.podId : '' });
    assert.equal((await s.pools.claim(pool, { key: 'k1', bodyHash: 'h2' })).kind, 'conflict');
    assert.equal((await s.pools.members(pool.id)).length, 1, 'the replay did not take a second pod');
  });

  test('admissions never overshoot the size, and refuse an old digest once the pool moved', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'admit', 5));
    const repos = extra.map((r) => new PoolRepository(r, s.prefix));
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => repos[i % repos.length]!.admit(pool.id, newId('pod'), OLD, GRACE_MS)),
    );
    assert.equal(outcomes.filter((o) => o === 'admitted').length, 5);
    assert.equal(outcomes.filter((o) => o === 'full').length, 35);

    assert.deepEqual(await s.pools.update(pool, { image: { ...pool.image, digest: NEW } }), { applied: true, rotated: true });
    assert.equal(await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS), 'stale');
    assert.equal(
      await s.pools.admit(pool.id, newId('pod'), NEW, GRACE_MS),
      'admitted',
      'old-digest members do not count toward the new size',
    );
    const moved = await s.pools.get(pool.id);
    assert.equal(moved?.generation, 2);
    assert.equal(moved?.previousDigest, OLD);
  });

  test('a member without a pod record counts only during the grace period', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'grace', 1));
    const t0 = Date.now() - 60_000;
    assert.equal(await s.pools.admit(pool.id, 'pod-00000000000000000001', OLD, GRACE_MS, t0), 'admitted');
    assert.equal(await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS, t0 + 1_000), 'full');
    assert.equal(
      await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS),
      'admitted',
      'past the grace period the husk no longer holds the slot',
    );
    assert.equal(
      await s.pools.prune(pool.id, 'pod-00000000000000000001', { graceMs: GRACE_MS, backoffBaseMs: 1_000, backoffMaxMs: 60_000 }),
      'missing',
    );
  });

  test('rotation retires an old Running pod only when a replacement is Running, and exactly once', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'rotate', 2));
    const old = [await member(s, pool, 'Running'), await member(s, pool, 'Running')];
    const oldStarting = await setSizeAndAdd(s, pool);
    await s.pools.update(pool, { size: 2, image: { ...pool.image, digest: NEW } });

    assert.equal(await s.pools.retire(pool.id, old[0]!, 'rotate', 'm', GRACE_MS), 'refused', 'no replacement Running yet');
    assert.equal(await s.pools.retire(pool.id, old[0]!, 'superseded', 'm', GRACE_MS), 'refused', 'a Running pod is not superseded');
    assert.equal(
      await s.pools.retire(pool.id, oldStarting, 'superseded', 'm', GRACE_MS),
      'absent',
      'the move itself retired the old pod not Running yet',
    );
    assert.equal(await s.pods.isStopRequested(oldStarting), true, 'and marked it, so no agent starts it');
    const fresh = await member(s, pool, 'Starting', NEW);
    assert.equal(await s.pools.retire(pool.id, old[0]!, 'rotate', 'm', GRACE_MS), 'refused', 'the replacement is not Running yet');
    await s.pods.transition(fresh, 'Running');

    const repos = extra.map((r) => new PoolRepository(r, s.prefix));
    const racing = await Promise.all(repos.map((r) => r.retire(pool.id, old[0]!, 'rotate', 'retired: rotation', GRACE_MS)));
    assert.deepEqual(racing.filter((o) => o === 'retired').length, 1, 'five replicas racing retire it once');
    assert.equal(await s.pools.retire(pool.id, old[1]!, 'rotate', 'm', GRACE_MS), 'refused', 'one replacement Running retires one old pod');
    assert.equal(await s.pods.isStopRequested(old[0]!), true);
    assert.equal((await s.pods.get(old[0]!))?.message, 'retired: rotation');
    assert.deepEqual((await s.pools.retiring(pool.id)).sort(), [oldStarting, old[0]!].sort());
    assert.equal((await s.pools.stats(pool.id))[`retired:${OLD}`], 2);
    assert.equal((await s.pools.claim(pool)).kind, 'claimed');
  });

  test('shrink keeps the size; drain retires anything, and the pool goes once nothing is left', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'shrink', 3));
    const pods = [await member(s, pool, 'Running'), await member(s, pool, 'Running'), await member(s, pool, 'Pending')];
    await s.pools.update(pool, { size: 2 });
    assert.equal(await s.pools.retire(pool.id, pods[2]!, 'shrink', 'm', GRACE_MS), 'retired');
    assert.equal(await s.pools.retire(pool.id, pods[1]!, 'shrink', 'm', GRACE_MS), 'refused');
    assert.equal(await s.pools.retire(pool.id, pods[1]!, 'drain', 'm', GRACE_MS), 'refused', 'not draining');

    assert.equal(await s.pools.drain(pool), true);
    assert.equal(await s.pools.findByName('acme', 'shrink'), undefined, 'the name is free at once');
    assert.equal((await s.pools.claim(pool)).kind, 'inactive');
    assert.equal(await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS), 'inactive');
    for (const id of pods.slice(0, 2)) assert.equal(await s.pools.retire(pool.id, id, 'drain', 'm', GRACE_MS), 'retired');
    assert.equal(await s.pools.finishDrain(pool), false, 'pods are still retiring');
    for (const id of await s.pools.retiring(pool.id)) await s.pools.retired(pool.id, id);
    assert.equal(await s.pools.finishDrain(pool), true);
    assert.equal(await s.pools.get(pool.id), undefined);
    assert.deepEqual(await s.pools.ids(), []);
  });

  test('pods of the template that exit on their own put refills in backoff', async () => {
    const s = scope();
    const pool = await created(s, newPool('acme', 'crashy', 1));
    const pod = await member(s, pool, 'Running');
    await s.pods.transition(pod, 'Failed', { exitCode: 1 }, 'n1');
    const now = Date.now();
    assert.equal(await s.pools.prune(pool.id, pod, { graceMs: GRACE_MS, backoffBaseMs: 1_000, backoffMaxMs: 60_000 }, now), 'Failed');
    assert.equal(await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS, now + 10), 'backoff');
    assert.equal(await s.pools.admit(pool.id, newId('pod'), OLD, GRACE_MS, now + 1_001), 'admitted');
    const after = await s.pools.get(pool.id);
    assert.equal(after?.failStreak, 1);
    await s.pools.clearBackoff(pool.id);
    assert.equal((await s.pools.get(pool.id))?.failStreak, 0);
  });
});

/** An extra old pod that is still starting, beyond the size. */
async function setSizeAndAdd(s: Scope, pool: PoolRecord): Promise<string> {
  await setSize(s, pool, 3);
  return member(s, pool, 'Starting');
}
