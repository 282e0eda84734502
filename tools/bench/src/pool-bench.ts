import { join } from 'node:path';
import { buildImage } from '@warmpod/devkit';
import { defaultNodes } from '@warmpod/local-cluster';
import { startBenchCluster } from './bench-cluster';
import { answeringResults, answeringRows, measureAnswering, type AnsweringCase, type AnsweringResult } from './pool-answering';
import { printResults } from './result-lines';
import { median, percentile, table } from './stats';

/**
 * `npm run bench:pool`: on a local cluster, (1) claim-to-Running latency of
 * warm pods against a cold start of the same image on a node that already
 * holds it (warm cache), in the same run; (2) how long a pool of 8 takes to
 * rotate after its tag is rebuilt and re-pinned, and how many pods it starts;
 * (3) claim -> answering (first successful request) against cold start ->
 * answering, for an image ready at once and one that initialises for 3 s
 * (pool-answering.ts).
 */
const RUNS = Number(process.argv[2] ?? 40);
const ANSWER_RUNS = Number(process.argv[3] ?? 8);
const ANSWER_CASES: AnsweringCase[] = [
  { label: 'ready at once', initSeconds: 0, withReadiness: true },
  { label: '3 s init', initSeconds: 3, withReadiness: true },
  { label: '3 s init, no readiness (before)', initSeconds: 3, withReadiness: false },
];
const ROTATION_SIZE = 8;
const CLAIM_POOL_SIZE = 4;

interface Pod {
  id: string;
  phase: string;
  startMode?: string;
  timeline: Record<string, string>;
}

interface Pool {
  ready: number;
  image: { digest: string };
  pods: Array<{ current: boolean }>;
  retiring: string[];
  rotation?: unknown;
  stats: { started: Record<string, number>; retired: Record<string, number> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const bench = await startBenchCluster({ name: 'pool', nodes: defaultNodes('wpb', 79) });
  const { cluster, workDir, call: request, close } = bench;
  try {
    const call = async <T>(method: string, path: string, body?: unknown): Promise<{ json: T }> => ({
      json: await request<T>(method, path, body),
    });
    const build = (name: string, version: string) =>
      buildImage({
        registryHost: cluster.registryHost,
        name,
        tag: 'latest',
        workDir: join(workDir, `img-${name.replace('/', '-')}-${version}`),
        cmd: ['sh', '-c', `trap 'exit 0' TERM; echo ${version}; sleep 3600 & wait`],
      });
    const poolUntil = async (name: string, done: (p: Pool) => boolean): Promise<Pool> => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const { json } = await call<Pool>('GET', `/v1/pools/${name}`);
        if (done(json)) return json;
        if (Date.now() > deadline) throw new Error(`pool ${name} did not settle: ${JSON.stringify(json)}`);
        await sleep(10);
      }
    };
    const template = { resources: { cpu: 0.1, memoryMiB: 32 } };

    // 1. Claims vs cold starts of the same image, on nodes holding it.
    await build('bench/claim', 'v1');
    await call('POST', '/v1/pools', { name: 'claim', image: 'bench/claim:latest', size: CLAIM_POOL_SIZE, podTemplate: template });
    await poolUntil('claim', (p) => p.ready === CLAIM_POOL_SIZE);
    const claimMs: number[] = [];
    const coldMs: number[] = [];
    const readMs: number[] = [];
    let fallbacks = 0;
    for (let i = 0; i < RUNS; i++) {
      await poolUntil('claim', (p) => p.ready >= 1);
      const sent = performance.now();
      const { json: claimed } = await call<Pod>('POST', '/v1/pods', { image: 'bench/claim:latest', pool: 'claim' });
      if (claimed.startMode === 'warm-pool' && claimed.phase === 'Running') claimMs.push(performance.now() - sent);
      else fallbacks++;

      const coldSent = Date.now();
      const { json: cold } = await call<Pod>('POST', '/v1/pods', { image: 'bench/claim:latest', resources: template.resources });
      for (;;) {
        const { json: now } = await call<Pod>('GET', `/v1/pods/${cold.id}`);
        if (now.timeline['Running']) {
          if (now.startMode !== 'warm-cache') throw new Error(`cold start ${now.id} was ${now.startMode}, not warm-cache`);
          coldMs.push(Date.parse(now.timeline['Running']) - coldSent);
          break;
        }
        if (['Failed', 'Stopped', 'Lost'].includes(now.phase)) throw new Error(`cold start ${now.id} ended ${now.phase}`);
        await sleep(5);
      }
      const getSent = performance.now();
      await call<Pod>('GET', `/v1/pods/${claimed.id}`);
      readMs.push(performance.now() - getSent);
      await call('DELETE', `/v1/pods/${claimed.id}`);
      await call('DELETE', `/v1/pods/${cold.id}`);
      // Let the stops (and the pool's refill) finish, so the next run does not share the CPU with them.
      for (const id of [claimed.id, cold.id]) {
        while (!['Stopped', 'Succeeded', 'Failed', 'Lost'].includes((await call<Pod>('GET', `/v1/pods/${id}`)).json.phase)) await sleep(10);
      }
      await poolUntil('claim', (p) => p.ready === CLAIM_POOL_SIZE);
    }
    await call('DELETE', '/v1/pools/claim');

    // 2. Rotation of a pool of 8 after its tag is rebuilt and re-pinned.
    const v1 = await build('bench/rot', 'v1');
    await call('POST', '/v1/pools', { name: 'rot', image: 'bench/rot:latest', size: ROTATION_SIZE, podTemplate: template });
    const before = await poolUntil('rot', (p) => p.ready === ROTATION_SIZE);
    const v2 = await build('bench/rot', 'v2');
    const repinAt = Date.now();
    await call('PATCH', '/v1/pools/rot', { repin: true });
    let firstNewReady: number | undefined;
    const after = await poolUntil('rot', (p) => {
      if (firstNewReady === undefined && p.ready > 0 && p.image.digest === v2) firstNewReady = Date.now();
      return p.ready === ROTATION_SIZE && p.pods.every((x) => x.current) && !p.rotation && p.retiring.length === 0;
    });
    const rotationMs = Date.now() - repinAt;
    const newStarts = after.stats.started[v2] ?? 0;
    const oldStartsAfter = (after.stats.started[v1] ?? 0) - (before.stats.started[v1] ?? 0);
    const retiredOld = after.stats.retired[v1] ?? 0;

    await call('DELETE', '/v1/pools/rot');

    // 3. Claim -> answering against cold start -> answering.
    const answering: AnsweringResult[] = [];
    for (const c of ANSWER_CASES) answering.push(await measureAnswering(bench, c, ANSWER_RUNS));

    const f = (n: number) => `${n.toFixed(1)} ms`;
    const claimP50 = median(claimMs);
    const coldP50 = median(coldMs);
    console.log(
      table([
        ['measure', 'value', 'note'],
        ['claim -> Running p50', f(claimP50), `${claimMs.length} warm claims, sequential; POST /v1/pods {pool} answered Running`],
        [
          'claim -> Running p99',
          f(percentile(claimMs, 99)),
          fallbacks > 0 ? `${fallbacks} claims found no warm pod (fell back)` : 'no claim fell back',
        ],
        ['cold start (warm cache) p50', f(coldP50), `${coldMs.length} runs, same image already on the node: POST -> Running`],
        ['cold start (warm cache) p99', f(percentile(coldMs, 99)), ''],
        ['API round trip p50', f(median(readMs)), 'GET /v1/pods/{id} in the same run, for scale'],
        ['speed-up p50', `${(coldP50 / claimP50).toFixed(1)}x`, 'cold start p50 / claim p50'],
        ['rotation of a pool of 8', f(rotationMs), 're-pin -> 8 Running on the new digest, old ones stopped'],
        ['  first new pod ready', f((firstNewReady ?? NaN) - repinAt), 'includes the prepull of the new digest onto the nodes'],
        ['new-digest starts', String(newStarts), `target ${ROTATION_SIZE}`],
        ['old-digest starts after re-pin', String(oldStartsAfter), 'target 0'],
        ['old pods retired', String(retiredOld), `each once (target ${ROTATION_SIZE})`],
        ...answeringRows(answering),
      ]),
    );
    printResults({
      claim_p50_ms: claimP50,
      claim_p99_ms: percentile(claimMs, 99),
      claim_fallbacks_count: fallbacks,
      cold_start_p50_ms: coldP50,
      cold_start_p99_ms: percentile(coldMs, 99),
      api_read_p50_ms: median(readMs),
      cold_over_claim_p50: coldP50 / claimP50,
      rotation_ms: rotationMs,
      rotation_first_ready_ms: (firstNewReady ?? NaN) - repinAt,
      rotation_new_digest_starts_count: newStarts,
      rotation_old_digest_starts_count: oldStartsAfter,
      rotation_old_retired_count: retiredOld,
      ...answeringResults(answering),
    });
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
