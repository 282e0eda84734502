import { join } from 'node:path';
import { buildSlowHttpImage } from '@warmpod/devkit';
import type { BenchCluster } from './bench-cluster';
import { median } from './stats';

/**
 * Claim -> answering against cold start -> answering: the time from the
 * request to the first successful HTTP request at the pod's endpoint, what
 * a client waits for. For one image per kind (ready at once, slow init),
 * with a readiness condition, so pools hand out only ready pods; and the
 * slow image without one, the warm-in-name-only baseline. Each run claims
 * from a new pool of one as soon as the pool counts its pod ready, as a
 * client of a pool that just refilled would.
 */

export interface AnsweringCase {
  label: string;
  /** Seconds the image initialises before it listens. */
  initSeconds: number;
  withReadiness: boolean;
}

export interface AnsweringResult extends AnsweringCase {
  claimMs: number[];
  coldMs: number[];
  /** Claims that found no ready warm pod (fell back to a start from the template). */
  fallbacks: number;
  /** Claims whose first request already answered. */
  claimFirstTry: number;
}

interface Pod {
  id: string;
  phase: string;
  startMode?: string;
  endpoints: Array<{ address: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENDED = ['Succeeded', 'Failed', 'Stopped', 'Lost'];

/** Polls the endpoint until it answers 200; how many tries it took. */
async function firstAnswer(address: string, deadline: number): Promise<number> {
  for (let tries = 1; ; tries++) {
    const ok = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return tries;
    if (Date.now() > deadline) throw new Error(`${address} never answered`);
    await sleep(5);
  }
}

export async function measureAnswering(bench: BenchCluster, c: AnsweringCase, runs: number): Promise<AnsweringResult> {
  const { call, cluster, workDir } = bench;
  const name = `ans-${c.initSeconds}s-${c.withReadiness ? 'r' : 'n'}`;
  const image = `bench/${name}:latest`;
  await buildSlowHttpImage({
    registryHost: cluster.registryHost,
    name: `bench/${name}`,
    workDir: join(workDir, name),
    initSeconds: c.initSeconds,
  });
  const template = {
    ports: [8080],
    resources: { cpu: 0.1, memoryMiB: 32 },
    ...(c.withReadiness ? { readiness: { condition: { type: 'http', port: 8080, path: '/' }, intervalMs: 50, timeoutSeconds: 120 } } : {}),
  };
  const poolReady = async (pool: string): Promise<void> => {
    const deadline = Date.now() + 180_000;
    while ((await call<{ ready: number }>('GET', `/v1/pools/${pool}`)).ready < 1) {
      if (Date.now() > deadline) throw new Error(`pool ${pool} never had a ready pod`);
      await sleep(10);
    }
  };
  const result: AnsweringResult = { ...c, claimMs: [], coldMs: [], fallbacks: 0, claimFirstTry: 0 };
  for (let i = 0; i < runs; i++) {
    // A pool of one, new each run, claimed as soon as it counts its pod ready (without readiness: as soon as it runs).
    const pool = `${name}-${i}`;
    await call('POST', '/v1/pools', { name: pool, image, size: 1, podTemplate: template });
    await poolReady(pool);
    const sent = performance.now();
    const claimed = await call<Pod>('POST', '/v1/pods', { image, pool });
    if (claimed.startMode !== 'warm-pool') result.fallbacks++;
    const address = (await untilExposed(call, claimed)).endpoints[0]!.address;
    const tries = await firstAnswer(address, Date.now() + 120_000);
    result.claimMs.push(performance.now() - sent);
    if (tries === 1) result.claimFirstTry++;
    await call('DELETE', `/v1/pools/${pool}`);

    const coldSent = performance.now();
    const cold = await call<Pod>('POST', '/v1/pods', { image, ...template });
    await firstAnswer((await untilExposed(call, cold)).endpoints[0]!.address, Date.now() + 120_000);
    result.coldMs.push(performance.now() - coldSent);

    for (const id of [claimed.id, cold.id]) await call('DELETE', `/v1/pods/${id}`);
    for (const id of [claimed.id, cold.id]) {
      while (!ENDED.includes((await call<Pod>('GET', `/v1/pods/${id}`)).phase)) await sleep(10);
    }
    // The drained pool (and its refill) gone before the next run.
    while ((await call<{ items: Array<{ name: string }> }>('GET', '/v1/pools')).items.some((p) => p.name === pool)) await sleep(20);
  }
  return result;
}

/** The pod once its ports are exposed (Running: with readiness, once ready). */
async function untilExposed(call: BenchCluster['call'], pod: Pod): Promise<Pod> {
  const deadline = Date.now() + 120_000;
  let now = pod;
  while (now.endpoints.length === 0) {
    if (ENDED.includes(now.phase) || Date.now() > deadline) throw new Error(`pod ${pod.id} never exposed: ${JSON.stringify(now)}`);
    await sleep(5);
    now = await call<Pod>('GET', `/v1/pods/${pod.id}`);
  }
  return now;
}

export function answeringRows(results: AnsweringResult[]): Array<[string, string, string]> {
  const f = (n: number) => `${n.toFixed(1)} ms`;
  return results.flatMap((r): Array<[string, string, string]> => [
    [
      `claim -> answering p50, ${r.label}`,
      f(median(r.claimMs)),
      `${r.claimMs.length} claims; first request answered in ${r.claimFirstTry}` + (r.fallbacks ? `; ${r.fallbacks} fell back` : ''),
    ],
    [`cold start -> answering p50, ${r.label}`, f(median(r.coldMs)), `${r.coldMs.length} runs on a node holding the image`],
  ]);
}

export function answeringResults(results: AnsweringResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const key = `${r.initSeconds === 0 ? 'ready_at_once' : `init_${r.initSeconds}s`}${r.withReadiness ? '' : '_no_readiness'}`;
    out[`claim_answering_p50_ms_${key}`] = median(r.claimMs);
    out[`cold_answering_p50_ms_${key}`] = median(r.coldMs);
    out[`claim_first_try_count_${key}`] = r.claimFirstTry;
  }
  return out;
}
