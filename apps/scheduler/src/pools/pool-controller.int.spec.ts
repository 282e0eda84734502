import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { newId, type PodRecord } from '@warmpod/domain';
import { createLogger } from '@warmpod/observability';
import { POOL_LABEL, PoolRepository, type NewPool, type PoolRecord } from '@warmpod/store';
import { SimCluster } from './testing/sim-cluster';
import { dropKeys, redisOptions } from '@warmpod/devkit';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const OLD = `sha256:${'1'.repeat(64)}`;
const NEW = `sha256:${'2'.repeat(64)}`;
const logger = createLogger({ service: 'pools-int', level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let redis: Redis;
let counter = 0;
const sims: SimCluster[] = [];

async function sim(opts: Partial<ConstructorParameters<typeof SimCluster>[2]> = {}): Promise<{ s: SimCluster; pools: PoolRepository }> {
  const prefix = `${filePrefix}${++counter}:`;
  const s = new SimCluster(
    redis,
    prefix,
    { nodes: ['n1', 'n2'], cached: [OLD], prepullMs: 300, startMs: 30, replicas: 2, ...opts },
    logger,
  );
  sims.push(s);
  await s.start();
  return { s, pools: new PoolRepository(redis, prefix) };
}

function poolDef(name: string, size: number, digest = OLD): NewPool {
  return {
    id: newId('pool'),
    tenant: 'acme',
    name,
    createdAt: new Date().toISOString(),
    image: {
      requested: 'team/app:latest',
      reference: 'registry.local:5000/team/app:latest',
      pinned: `registry.local:5000/team/app@${digest}`,
      digest,
    },
    size,
    template: { command: ['sleep', '3600'], args: [], env: {}, ports: [], resources: { cpu: 0.1, memoryMiB: 64, gpu: 0 } },
    nodeSelector: {},
  };
}

/** Waits for a condition the system must reach by itself; the deadline only bounds a failure. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The pool's members, when there are `size` of them, all Running on `digest`, and nothing is retiring. */
async function settled(s: SimCluster, pools: PoolRepository, pool: PoolRecord, digest: string): Promise<string[] | undefined> {
  const current = await pools.get(pool.id);
  const members = await pools.members(pool.id);
  if (!current || members.length !== current.size || (await pools.retiring(pool.id)).length > 0) return undefined;
  if (members.some((m) => m.digest !== digest)) return undefined;
  const pods = await Promise.all(members.map((m) => s.pods.get(m.podId)));
  return pods.every((p) => p?.phase === 'Running') ? members.map((m) => m.podId) : undefined;
}

async function poolPods(s: SimCluster, name: string): Promise<PodRecord[]> {
  return (await s.pods.listByTenant('acme', 1000)).filter((p) => p.labels[POOL_LABEL] === name);
}

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

after(async () => {
  for (const s of sims) await s.stop();
  if (!redis) return;
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

describe('pool controller with two replicas, simulated agents and prepuller', () => {
  test('fills the pool on warm nodes, pins its image, and refills after claims without overshooting', async () => {
    const { s, pools } = await sim();
    const def = poolDef('fill', 4);
    await pools.create(def);
    const pool = (await pools.get(def.id))!;
    await until('4 warm pods', () => settled(s, pools, pool, OLD));
    assert.ok(
      (await s.pins.listActive()).some((p) => p.digest === OLD && p.tenant === 'acme'),
      'the controller pinned the pool image for the prepuller',
    );

    const claims = await Promise.all(Array.from({ length: 6 }, () => pools.claim(pool)));
    assert.equal(claims.filter((c) => c.kind === 'claimed').length, 4);
    await until('refilled', () => settled(s, pools, pool, OLD));
    const stats = await pools.stats(pool.id);
    assert.equal(stats[`started:${OLD}`], 8, 'exactly one new pod per claim, with two replicas refilling');
    assert.ok(
      s.starts.every((st) => st.hadDigest),
      'every pod started on a node holding its digest',
    );
  });

  test('rotation mid-traffic: prepull first, replacements before retirements, each old pod retired once', async () => {
    const { s, pools } = await sim();
    const size = 6;
    const def = poolDef('rot', size);
    await pools.create(def);
    const pool = (await pools.get(def.id))!;
    await until('6 warm pods', () => settled(s, pools, pool, OLD));

    const claims: Array<{ sent: number; answered: number; podId?: string; digest?: string }> = [];
    let traffic = true;
    const load = (async () => {
      while (traffic) {
        const sent = Date.now();
        const o = await pools.claim(pool);
        claims.push({ sent, answered: Date.now(), ...(o.kind === 'claimed' ? { podId: o.podId, digest: o.digest } : {}) });
        await sleep(250);
      }
    })();
    await sleep(300);
    const movedAt = Date.now();
    const moved = await pools.update(pool, { image: { ...pool.image, pinned: pool.image.pinned.replace(OLD, NEW), digest: NEW } });
    const repinnedAt = Date.now();
    assert.deepEqual(moved, { applied: true, rotated: true });
    await sleep(1_500);
    await until('a claim served by the new digest', async () => (claims.some((c) => c.digest === NEW) ? true : undefined), 8_000);
    traffic = false;
    await load;
    await until('rotated to the new digest', () => settled(s, pools, pool, NEW));

    // Prepull first: no new-digest pod began before its digest was on the node.
    const newStarts = s.starts.filter((st) => st.digest === NEW);
    assert.ok(newStarts.length >= size);
    assert.ok(
      newStarts.every((st) => st.hadDigest),
      'every new-digest pod started where the digest was ready',
    );
    assert.ok(Math.min(...newStarts.map((st) => st.at)) >= s.prepulledAt.get(NEW)!, 'none before the prepull');

    // No pod started on the old digest after the re-pin.
    const lateOld = s.starts.filter((st) => st.digest === OLD && st.at > repinnedAt);
    assert.deepEqual(lateOld, [], 'no old-digest start after the re-pin');

    // Every old pod was either claimed, or retired exactly once (and stopped at most once).
    const stats = await pools.stats(pool.id);
    const oldPods = (await poolPods(s, 'rot')).filter((p) => p.image.digest === OLD);
    const retired = oldPods.filter((p) => p.startMode !== 'warm-pool');
    for (const p of retired) {
      assert.equal(p.phase, 'Stopped', `${p.id} ended Stopped`);
      // (Placement clears the message of a pod retired while Pending; it never ran.)
      if (p.timeline.Starting) assert.match(p.message ?? '', /^retired by pool rot/, JSON.stringify(p));
      assert.ok((s.stopJobs.get(p.id) ?? 0) <= 1, `${p.id} was stopped once`);
    }
    assert.ok(retired.length > 0, 'some old pods outlived the traffic and were retired');
    assert.equal(stats[`retired:${OLD}`], retired.length, 'one retirement per old pod that was not claimed');
    assert.equal(stats[`started:${OLD}`], oldPods.length);

    // Retired Running old pods went only once a replacement was Running.
    const newPods = (await poolPods(s, 'rot')).filter((p) => p.image.digest === NEW);
    const newRunning = newPods.flatMap((p) => (p.timeline.Running ? [Date.parse(p.timeline.Running)] : [])).sort((a, b) => a - b);
    // (Pods the re-pin caught before Running were retired at once, whatever they did next.)
    const rotated = retired.filter((p) => /replaced by a Running pod/.test(p.message ?? ''));
    const oldStops = rotated.map((p) => Date.parse(p.timeline.Stopped!)).sort((a, b) => a - b);
    oldStops.forEach((stoppedAt, i) =>
      assert.ok(newRunning[i]! <= stoppedAt, `old pod #${i + 1} stopped after replacement #${i + 1} was Running`),
    );

    // Claims never got an old-digest pod while a new-digest one was free.
    const claimWindow = new Map(claims.filter((c) => c.podId).map((c) => [c.podId!, c]));
    for (const c of claims.filter((x) => x.digest === OLD)) {
      for (const st of newStarts) {
        const runningAt = s.runningAt.get(st.podId);
        if (runningAt === undefined || runningAt >= c.sent) continue;
        const taken = claimWindow.get(st.podId);
        assert.ok(
          taken && taken.sent <= c.answered,
          `old pod handed out at ${c.sent} while new pod ${st.podId} was free since ${runningAt}`,
        );
      }
    }
    const newClaims = claims.filter((c) => c.digest === NEW).length;
    assert.ok(newClaims > 0 && claims.some((c) => c.digest === OLD), 'traffic got both digests across the rotation');
    assert.equal(stats[`started:${NEW}`], size + newClaims, 'the rotation started exactly `size` new pods, plus one refill per claim');
    assert.ok(movedAt <= repinnedAt);
  });

  test('a re-pin before the new digest is anywhere starts nothing until the prepull, and keeps the old pods serving', async () => {
    const { s, pools } = await sim({ prepullMs: 800 });
    const def = poolDef('wait', 2);
    await pools.create(def);
    const pool = (await pools.get(def.id))!;
    const old = await until('2 warm pods', () => settled(s, pools, pool, OLD));
    await pools.update(pool, { image: { ...pool.image, digest: NEW } });
    await sleep(400);
    assert.equal(s.starts.filter((st) => st.digest === NEW).length, 0, 'nothing starts before the digest is on a node');
    assert.deepEqual((await pools.members(pool.id)).map((m) => m.podId).sort(), old.sort(), 'old pods keep serving');
    const claimed = await pools.claim(pool);
    assert.equal(claimed.kind === 'claimed' && claimed.digest, OLD, 'with no new pod free, an old one is handed out');
    await until('rotated', () => settled(s, pools, pool, NEW));
  });

  test('a shrink retires extras; a drain stops every pod, removes the pool and its pin', async () => {
    const { s, pools } = await sim();
    const def = poolDef('drain', 3);
    await pools.create(def);
    const pool = (await pools.get(def.id))!;
    await until('3 warm pods', () => settled(s, pools, pool, OLD));
    await pools.update(pool, { size: 1 });
    await until('shrunk to 1', () => settled(s, pools, pool, OLD));
    assert.equal((await pools.stats(pool.id))[`retired:${OLD}`], 2);

    assert.equal(await pools.drain(pool), true);
    await until('pool removed', async () => ((await pools.get(pool.id)) ? undefined : true));
    const pods = await poolPods(s, 'drain');
    assert.ok(
      pods.every((p) => p.phase === 'Stopped'),
      'every warm pod stopped',
    );
    await until('pin released', async () => ((await s.pins.listActive()).some((p) => p.digest === OLD) ? undefined : true));
  });
});
