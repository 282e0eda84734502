import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildSlowHttpImage, SLOW_HTTP_BODY } from '@warmpod/devkit';
import { startCluster, type E2eCluster, type PodJson } from './support';

/**
 * Warm pools on a real local cluster: real agents running runc, the real
 * prepuller warming the pool's pin, a real registry whose tag is rebuilt
 * and re-pinned while claims keep coming.
 */

interface PoolJson {
  name: string;
  state: string;
  image: { requested: string; pinned: string; digest: string };
  size: number;
  desired: number;
  ready: number;
  starting: number;
  rotation?: { from: string; to: string; oldPods: number };
  pods: Array<{ id: string; node?: string; digest: string; phase: string; current: boolean; free: boolean }>;
  retiring: string[];
  stats: {
    started: Record<string, number>;
    claimed: Record<string, number>;
    retired: Record<string, number>;
    ended: Record<string, number>;
  };
}

interface Claim {
  sent: number;
  answered: number;
  pod: PodJson;
}

const SIZE = 4;
const ended = (phase: string) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(phase);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('warm pools end to end', () => {
  let e: E2eCluster;
  let v1 = '';
  const claims: Claim[] = [];

  const build = (version: string) =>
    buildImage({
      registryHost: e.cluster.registryHost,
      name: 'e2e/pool-app',
      tag: 'latest',
      workDir: join(e.workDir, `pool-img-${version}`),
      // Exits on SIGTERM at once (a shell as pid 1 would otherwise wait out the stop grace period).
      cmd: ['sh', '-c', `trap 'exit 0' TERM; echo pool app ${version}; sleep 3600 & wait`],
    });

  const pool = async (): Promise<PoolJson> => {
    const res = await e.api('/v1/pools/web');
    assert.equal(res.status, 200);
    return (await res.json()) as PoolJson;
  };

  /** Polls the pool until `done` holds; the deadline bounds a failure, the system gets there by itself. */
  const poolUntil = async (what: string, done: (p: PoolJson) => boolean, timeoutMs = 40_000): Promise<PoolJson> => {
    const deadline = Date.now() + timeoutMs;
    let last: PoolJson | undefined;
    while (Date.now() < deadline) {
      last = await pool();
      if (done(last)) return last;
      await sleep(100);
    }
    throw new Error(`pool did not reach "${what}": ${JSON.stringify(last)}`);
  };

  const claim = async (): Promise<Claim> => {
    const sent = Date.now();
    const res = await e.api('/v1/pods', { method: 'POST', body: JSON.stringify({ image: 'e2e/pool-app:latest', pool: 'web' }) });
    const pod = (await res.json()) as PodJson;
    assert.equal(res.status, 202, JSON.stringify(pod));
    const c = { sent, answered: Date.now(), pod };
    claims.push(c);
    return c;
  };

  const poolPods = async (): Promise<PodJson[]> => {
    const res = await e.api('/v1/pods?label=warmpod.io/pool=web&limit=500');
    return ((await res.json()) as { items: PodJson[] }).items;
  };

  before(async () => {
    e = await startCluster();
    v1 = await build('v1');
  });

  after(async () => {
    if (!e) return;
    await e.cleanup();
  });

  test('a pool is pinned at the door, warmed by the prepuller, and fills on nodes holding its digest', async () => {
    const res = await e.api('/v1/pools', {
      method: 'POST',
      body: JSON.stringify({
        name: 'web',
        image: 'e2e/pool-app:latest',
        size: SIZE,
        podTemplate: { resources: { cpu: 0.1, memoryMiB: 32 } },
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(((await res.json()) as PoolJson).image.digest, v1);
    const full = await poolUntil('full', (p) => p.ready === SIZE);
    assert.ok(full.pods.every((p) => p.digest === v1 && p.phase === 'Running' && p.node));
    const pods = await poolPods();
    for (const p of pods) assert.equal(p.timeline['Pulling'], undefined, `${p.id} found its digest already on ${p.node} (prepulled)`);
  });

  test('concurrent claims each get their own pod: warm ones Running at once, the rest start from the template', async () => {
    const burst = await Promise.all(Array.from({ length: SIZE + 3 }, () => claim()));
    const ids = burst.map((c) => c.pod.id);
    assert.equal(new Set(ids).size, ids.length, 'no pod handed out twice');
    const warm = burst.filter((c) => c.pod.startMode === 'warm-pool');
    assert.equal(warm.length, SIZE);
    for (const c of warm) assert.equal(c.pod.phase, 'Running');
    for (const c of burst.filter((x) => x.pod.startMode !== 'warm-pool')) {
      assert.ok(['Pending', 'Scheduled', 'Pulling', 'Starting'].includes(c.pod.phase), c.pod.phase);
      assert.equal(c.pod.image.digest, v1);
    }
    await poolUntil('refilled', (p) => p.ready === SIZE);
    for (const c of burst) await e.api(`/v1/pods/${c.pod.id}`, { method: 'DELETE' });
  });

  test('rebuild and re-pin mid-traffic: the pool rotates once, prepull first, and never hands out an old pod when a new one is free', async () => {
    let traffic = true;
    const load = (async () => {
      while (traffic) {
        const c = await claim();
        // The user is done with it soon after: capacity stays free for the rotation.
        setTimeout(() => void e.api(`/v1/pods/${c.pod.id}`, { method: 'DELETE' }).catch(() => undefined), 1_000);
        await sleep(700);
      }
    })();
    await sleep(800);
    const v2 = await build('v2');
    assert.notEqual(v2, v1);
    const patch = await e.api('/v1/pools/web', { method: 'PATCH', body: JSON.stringify({ repin: true }) });
    const repinnedAt = Date.now();
    assert.equal(patch.status, 200);
    assert.equal(((await patch.json()) as PoolJson).image.digest, v2);
    const deadline = Date.now() + 40_000;
    while (!claims.some((c) => c.pod.image.digest === v2 && c.pod.startMode === 'warm-pool') && Date.now() < deadline) await sleep(100);
    await sleep(1_000);
    traffic = false;
    await load;
    const done = await poolUntil(
      'rotated',
      (p) => p.ready === SIZE && p.pods.length === SIZE && p.pods.every((x) => x.current) && !p.rotation && p.retiring.length === 0,
    );

    const fallbackIds = new Set(claims.filter((c) => c.pod.startMode !== 'warm-pool').map((c) => c.pod.id));
    const started = (await poolPods()).filter((p) => !fallbackIds.has(p.id));
    const byDigest = (d: string) => started.filter((p) => p.image.digest === d);
    const oldPods = byDigest(v1);
    const newPods = byDigest(v2);

    // Counts of pool starts per digest, as the pool and the pod records see them.
    assert.equal(done.stats.started[v1], oldPods.length);
    assert.equal(done.stats.started[v2], newPods.length);
    const newClaims = claims.filter((c) => c.pod.startMode === 'warm-pool' && c.pod.image.digest === v2).length;
    assert.equal(newPods.length, SIZE + newClaims, 'the rotation started the size once, plus one refill per claim');

    // No old-digest pod started after the re-pin; new ones only where the digest was already (no pull).
    const lateOld = oldPods.filter((p) => p.timeline['Starting'] && Date.parse(p.timeline['Starting']) > repinnedAt);
    assert.deepEqual(
      lateOld.map((p) => p.id),
      [],
      'no old-digest pod started after the re-pin',
    );
    for (const p of newPods) assert.equal(p.timeline['Pulling'], undefined, `${p.id} started where ${v2} was prepulled`);

    // Every old pod was claimed, or retired exactly once by the pool.
    const claimedIds = new Set(claims.filter((c) => c.pod.startMode === 'warm-pool').map((c) => c.pod.id));
    const retired = oldPods.filter((p) => !claimedIds.has(p.id));
    for (const p of retired) {
      assert.ok(ended(p.phase), `${p.id} ended`);
      assert.equal(p.phase, 'Stopped', `${p.id} was stopped by the pool`);
    }
    assert.equal(done.stats.retired[v1] ?? 0, retired.length, 'one retirement per old pod not claimed');
    assert.ok(retired.length > 0, 'old pods outlived the traffic and were rotated out');

    // Claims during the rotation never got an old-digest pod while a new-digest one was free.
    const claimOf = new Map(claims.map((c) => [c.pod.id, c]));
    for (const c of claims.filter((x) => x.pod.startMode === 'warm-pool' && x.pod.image.digest === v1)) {
      for (const p of newPods) {
        const running = p.timeline['Running'] ? Date.parse(p.timeline['Running']) : Number.POSITIVE_INFINITY;
        if (running >= c.sent) continue;
        const taken = claimOf.get(p.id);
        assert.ok(taken && taken.sent <= c.answered, `old ${c.pod.id} handed out while new ${p.id} was free`);
      }
    }
    console.log(
      `pool starts per digest: ${v1.slice(7, 19)}=${oldPods.length} ${v2.slice(7, 19)}=${newPods.length}; ` +
        `retired old: ${retired.length}; claims: ${claims.length}`,
    );
  });

  test('DELETE drains the pool: its warm pods stop and the pool goes', async () => {
    const members = (await pool()).pods.map((p) => p.id);
    const res = await e.api('/v1/pools/web', { method: 'DELETE' });
    assert.equal(res.status, 202);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const list = (await (await e.api('/v1/pools')).json()) as { items: PoolJson[] };
      if (list.items.length === 0) break;
      assert.ok(Date.now() < deadline, `pool still listed: ${JSON.stringify(list.items)}`);
      await sleep(100);
    }
    for (const id of members) {
      const pod = (await (await e.api(`/v1/pods/${id}`)).json()) as PodJson;
      assert.equal(pod.phase, 'Stopped');
    }
  });

  test('a pool of a slow-init image counts and hands out only ready pods: a claim answers at once', async () => {
    await buildSlowHttpImage({
      registryHost: e.cluster.registryHost,
      name: 'e2e/slow-pool',
      workDir: join(e.workDir, 'slow-pool'),
      initSeconds: 3,
    });
    const readiness = { condition: { type: 'http', port: 8080, path: '/' }, intervalMs: 50, timeoutSeconds: 60 };
    const created = await e.api('/v1/pools', {
      method: 'POST',
      body: JSON.stringify({
        name: 'slow',
        image: 'e2e/slow-pool:latest',
        size: 1,
        podTemplate: { ports: [8080], resources: { cpu: 0.1, memoryMiB: 32 }, readiness },
      }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const seen: Array<{ ready: number; starting: number }> = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      const p = (await (await e.api('/v1/pools/slow')).json()) as PoolJson;
      seen.push({ ready: p.ready, starting: p.starting });
      if (p.ready === 1) break;
      assert.ok(Date.now() < deadline, `pool never ready: ${JSON.stringify(p)}`);
      await sleep(50);
    }
    assert.ok(
      seen.some((s) => s.starting === 1 && s.ready === 0),
      `its pod was seen starting, not counted ready, while it initialised: ${JSON.stringify(seen.slice(-5))}`,
    );
    const res = await e.api('/v1/pods', { method: 'POST', body: JSON.stringify({ image: 'e2e/slow-pool:latest', pool: 'slow' }) });
    const pod = (await res.json()) as PodJson;
    assert.equal(res.status, 202, JSON.stringify(pod));
    assert.equal(pod.startMode, 'warm-pool');
    assert.equal(pod.phase, 'Running');
    assert.ok(pod.ready, 'a claimed pod carries the time it became ready');
    // Claimed, then called at once: the first request answers.
    const answer = await fetch(`http://${pod.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), new RegExp(SLOW_HTTP_BODY));
    await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    assert.equal((await e.api('/v1/pools/slow', { method: 'DELETE' })).status, 202);
    const gone = Date.now() + 30_000;
    while (((await (await e.api('/v1/pools')).json()) as { items: PoolJson[] }).items.length > 0) {
      assert.ok(Date.now() < gone, 'the slow pool drains');
      await sleep(100);
    }
  });
});
