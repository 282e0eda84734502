import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisUrl } from '@warmpod/devkit';
import { parseExposition, sampleValue, type Sample } from '@warmpod/observability';
import { NodeRepository } from '@warmpod/store';
import { agentGet, createPod, startCluster, stopClusterLeavingNothing, waitForPod, type E2eCluster, type PodJson } from './support';

const ended = (p: { phase: string }) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);
const POD_ID_IN_LABEL = /pod-[A-Za-z0-9]/;

/** `/metrics` of a service, or of a node agent (`node`: over its mutual TLS API). */
async function scrape(url: string, agent?: { e: E2eCluster; node: string }): Promise<Sample[]> {
  const res = agent
    ? await agentGet(agent.e, agent.node, `${url}/metrics`)
    : await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200, `${url}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const samples = parseExposition(await res.text());
  for (const s of samples)
    for (const [k, v] of Object.entries(s.labels)) assert.doesNotMatch(v, POD_ID_IN_LABEL, `${s.name}{${k}} carries a pod id`);
  return samples;
}

/** Polls until `check` passes (metrics observed just after a pod turns Running); rethrows the last failure. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('metrics: real pods, real endpoints, the counts match what happened', () => {
  let e: E2eCluster;
  let agents: Record<string, string>;

  before(async () => {
    e = await startCluster();
    const redis = new Redis(redisUrl());
    try {
      const nodes = await new NodeRepository(redis, e.prefix).list();
      agents = Object.fromEntries(nodes.map((n) => [n.id, n.agentUrl]));
    } finally {
      redis.disconnect();
    }
    assert.equal(Object.keys(agents).length, 2);
  });

  after(() => stopClusterLeavingNothing(e));

  test('every service serves /metrics with process metrics; scheduler and prepuller serve /healthz and /readyz', async () => {
    const urls = { gateway: e.cluster.gatewayUrl, scheduler: e.cluster.schedulerHttpUrl, prepuller: e.cluster.prepullerHttpUrl, ...agents };
    for (const [name, url] of Object.entries(urls)) {
      const samples = await scrape(url, name in agents ? { e, node: name } : undefined);
      assert.ok(sampleValue(samples, 'process_resident_memory_bytes') > 0, `${name} has process metrics`);
      assert.ok(
        samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'),
        `${name} has event loop lag`,
      );
    }
    for (const url of [e.cluster.schedulerHttpUrl, e.cluster.prepullerHttpUrl]) {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      await eventually(async () => assert.equal((await fetch(`${url}/readyz`)).status, 200, `${url}/readyz`));
    }
    const scheduler = await scrape(e.cluster.schedulerHttpUrl);
    assert.equal(sampleValue(scheduler, 'warmpod_nodes', { state: 'ready' }), 2);
    assert.equal(sampleValue(scheduler, 'warmpod_queue_up', { queue: 'scheduling' }), 1);
    assert.ok(
      scheduler.some((s) => s.name === 'warmpod_queue_jobs' && s.labels['queue'] === 'scheduling' && s.labels['state'] === 'waiting'),
    );
  });

  test('two pods of one image: one cold start with a pull, one warm-cache start; placements and cache hits counted', async () => {
    const agentBefore = await Promise.all(Object.entries(agents).map(([node, url]) => scrape(url, { e, node })));
    const sum = (all: Sample[][], name: string, labels: Record<string, string>) =>
      all.reduce((n, s) => n + sampleValue(s, name, labels), 0);
    const schedBefore = await scrape(e.cluster.schedulerHttpUrl);
    const gwBefore = await scrape(e.cluster.gatewayUrl);

    const pods: PodJson[] = [];
    for (let i = 0; i < 2; i++) {
      const created = await createPod(e, { image: 'warmpod/sleeper:latest', resources: { cpu: 0.25, memoryMiB: 64 } });
      pods.push(await waitForPod(e, created.id, (p) => p.phase === 'Running' || ended(p)));
    }
    assert.deepEqual(
      pods.map((p) => [p.phase, p.startMode]),
      [
        ['Running', 'cold'],
        ['Running', 'warm-cache'],
      ],
    );
    assert.equal(pods[1]!.node, pods[0]!.node);

    await eventually(async () => {
      const after = await Promise.all(Object.entries(agents).map(([node, url]) => scrape(url, { e, node })));
      const delta = (labels: Record<string, string>, name = 'warmpod_pod_start_duration_seconds_count') =>
        sum(after, name, labels) - sum(agentBefore, name, labels);
      for (const segment of ['placement', 'dispatch', 'pull', 'start', 'total'])
        assert.equal(delta({ mode: 'cold', segment }), 1, `cold ${segment}`);
      for (const segment of ['placement', 'dispatch', 'start', 'total'])
        assert.equal(delta({ mode: 'warm-cache', segment }), 1, `warm ${segment}`);
      assert.equal(delta({ mode: 'warm-cache', segment: 'pull' }), 0, 'a warm-cache start pulls nothing');
      assert.equal(delta({ mode: 'cold', segment: 'total', le: '+Inf' }, 'warmpod_pod_start_duration_seconds_bucket'), 1);
      // The total covers its parts.
      const seconds = (segment: string) => delta({ mode: 'cold', segment }, 'warmpod_pod_start_duration_seconds_sum');
      assert.ok(seconds('total') + 1e-9 >= seconds('pull') + seconds('start'), 'total >= pull + start');
      assert.equal(delta({ trigger: 'pod', outcome: 'success' }, 'warmpod_image_pull_duration_seconds_count'), 1);
      assert.ok(delta({ trigger: 'pod' }, 'warmpod_image_pull_bytes_sum') > 0, 'the pull fetched bytes');
    });

    const sched = await scrape(e.cluster.schedulerHttpUrl);
    const schedDelta = (name: string, labels: Record<string, string>) =>
      sampleValue(sched, name, labels) - sampleValue(schedBefore, name, labels);
    assert.equal(schedDelta('warmpod_placements_total', { outcome: 'scheduled' }), 2);
    assert.equal(schedDelta('warmpod_placement_duration_seconds_count', { outcome: 'scheduled' }), 2);
    assert.equal(schedDelta('warmpod_placement_cache_total', { result: 'miss' }), 1);
    assert.equal(schedDelta('warmpod_placement_cache_total', { result: 'hit' }), 1);
    const gw = await scrape(e.cluster.gatewayUrl);
    const gwDelta = (labels: Record<string, string>) =>
      sampleValue(gw, 'warmpod_pod_admission_duration_seconds_count', labels) -
      sampleValue(gwBefore, 'warmpod_pod_admission_duration_seconds_count', labels);
    assert.equal(gwDelta({ outcome: 'admitted' }), 2);

    for (const pod of pods) await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    for (const pod of pods) await waitForPod(e, pod.id, ended);
  });
});
