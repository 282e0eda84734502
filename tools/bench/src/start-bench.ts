import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisUrl } from '@warmpod/devkit';
import { defaultNodes } from '@warmpod/local-cluster';
import { bareRuncRuns } from './bare-runc';
import { startBenchCluster, type BenchCluster } from './bench-cluster';
import { printResults } from './result-lines';
import { metricsStatus, SCRAPE_EVERY_MS, StartObservers } from './start-observers';
import { BENCH_POD, STEP_NOTES, StartSample } from './start-sample';
import { median, table } from './stats';

/**
 * `npm run bench:start [PODS]`: request-to-Running latency of warm starts of
 * a small image, on two local clusters side by side: one as deployed
 * (metrics and events on, scraped and followed), one with WARMPOD_METRICS
 * and WARMPOD_EVENTS off. Rounds interleave them (one pod on each, the order
 * alternating), so the machine's noise falls on both alike. Bare `runc run`
 * of the same image is the floor.
 */
const PODS = Number(process.argv[2] ?? 50);
const BARE_RUNS = 30;
const QUIET = { WARMPOD_METRICS: 'off', WARMPOD_EVENTS: 'off' };

async function main(): Promise<void> {
  if (!Number.isInteger(PODS) || PODS < 1) throw new Error(`PODS (the first argument) must be a positive integer, got ${process.argv[2]}`);
  const clusters: BenchCluster[] = [];
  try {
    // One after the other: two clusters booting at once on a small machine time out.
    const observed = await startBenchCluster({ name: 'start', nodes: defaultNodes('wb', 77) });
    clusters.push(observed);
    const unobserved = await startBenchCluster({ name: 'start-quiet', nodes: defaultNodes('wq', 76), env: QUIET });
    clusters.push(unobserved);
    const [on, off] = [await metricsStatus(observed), await metricsStatus(unobserved)];
    if (!on.every((s) => s === 200) || !off.every((s) => s === 404)) {
      throw new Error(`the switch did not take: /metrics answered ${on.join(',')} with metrics on, ${off.join(',')} off`);
    }

    const [obs, quiet] = [new StartSample(observed), new StartSample(unobserved)];
    // Warm both nodes' caches of both clusters first: the benchmark measures warm starts.
    for (const zone of ['a', 'b']) for (const side of [obs, quiet]) await side.start({ ...BENCH_POD, nodeSelector: { zone } });
    const observers = new StartObservers(observed);
    await observers.start();
    try {
      for (let i = 0; i < PODS; i++) for (const side of i % 2 === 0 ? [obs, quiet] : [quiet, obs]) await side.measure();
    } finally {
      await observers.stop();
    }
    const eventsWritten = {
      observed: await streamLength(`${observed.cluster.opts.prefix}events:all`),
      unobserved: await streamLength(`${unobserved.cluster.opts.prefix}events:all`),
    };

    const digestHex = observed.cluster.images!.hello.slice('sha256:'.length);
    const bare = median(bareRuncRuns(join(observed.workDir, 'nodes', 'node-1', 'images', 'unpacked', digestHex), BARE_RUNS));
    report(obs, quiet, bare, { eventsWritten, observers });
  } finally {
    for (const c of clusters.reverse()) await c.close();
  }
}

/** Entries of a stream (0 when it does not exist). */
async function streamLength(key: string): Promise<number> {
  const redis = new Redis(redisUrl());
  try {
    return await redis.xlen(key);
  } finally {
    redis.disconnect();
  }
}

function report(
  obs: StartSample,
  quiet: StartSample,
  bare: number,
  seen: { eventsWritten: { observed: number; unobserved: number }; observers: StartObservers },
): void {
  const f = (n: number) => `${n.toFixed(1)} ms`;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const row = (measure: string, a: number, b: number, note = ''): string[] => [measure, f(a), f(b), ratio(a, b), note];
  console.log(
    table([
      ['measure', 'observed', 'unobserved', 'ratio', 'note'],
      ['pods', String(PODS), String(PODS), '', 'each side; sequential, interleaved, warm cache, small busybox image'],
      row('request->Running p50', obs.p(50), quiet.p(50), 'POST /v1/pods to the Running timestamp'),
      row('request->Running p90', obs.p(90), quiet.p(90)),
      row('request->Running p99', obs.p(99), quiet.p(99), 'target < 1000 ms'),
      ...Object.keys(STEP_NOTES).map((step) => row(`  ${step} p50`, obs.stepMedian(step), quiet.stepMedian(step), STEP_NOTES[step])),
      [
        'events written',
        String(seen.eventsWritten.observed),
        String(seen.eventsWritten.unobserved),
        '',
        'entries of the all-events stream',
      ],
      ['events followed', String(seen.observers.events), '-', '', 'one SSE follower of /v1/events'],
      ['scrapes', String(seen.observers.scrapes), '-', '', `gateway, scheduler, prepuller /metrics every ${SCRAPE_EVERY_MS / 1000} s`],
      ['bare runc run -d median', f(bare), '', '', `${BARE_RUNS} runs of the same image, same machine, same run`],
      ['p50 / bare runc', ratio(obs.p(50), bare), ratio(quiet.p(50), bare), '', 'target <= 1.25'],
    ]),
  );
  printResults({
    start_pods_count: PODS,
    start_p50_ms: obs.p(50),
    start_p95_ms: obs.p(95),
    start_p99_ms: obs.p(99),
    start_p50_ms_observed: obs.p(50),
    start_p50_ms_unobserved: quiet.p(50),
    start_p90_ms_observed: obs.p(90),
    start_p90_ms_unobserved: quiet.p(90),
    observability_overhead_ratio: obs.p(50) / quiet.p(50),
    observability_overhead_p90_ratio: obs.p(90) / quiet.p(90),
    bare_runc_p50_ms: bare,
    start_over_bare_runc: obs.p(50) / bare,
    admission_p50_ms: obs.stepMedian('admission'),
    placement_p50_ms: obs.stepMedian('placement'),
    hand_off_p50_ms: obs.stepMedian('hand-off to node'),
    node_start_p50_ms: obs.stepMedian('node start'),
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
