import { join } from 'node:path';
import { defaultNodes } from '@warmpod/local-cluster';
import { bareRuncRuns } from './bare-runc';
import { startBenchCluster } from './bench-cluster';
import { printResults } from './result-lines';
import { median, percentile, table } from './stats';

/**
 * `npm run bench:start`: request-to-Running latency of N pods of a small
 * image on warm nodes, side by side with bare `runc run` of the same image.
 */
const PODS = Number(process.argv[2] ?? 100);
const BARE_RUNS = 50;
const STEP_NOTES: Record<string, string> = {
  admission: 'request sent -> Pending (auth, validation, registry HEAD, store)',
  placement: 'Pending -> Scheduled (queue hop, plan, reservation)',
  'hand-off to node': 'Scheduled -> Starting (queue hop, cache check)',
  'node start': 'Starting -> Running (overlay, netns+CNI, runc, ports)',
};

interface Pod {
  id: string;
  phase: string;
  node?: string;
  timeline: Record<string, string>;
}

async function main(): Promise<void> {
  const { cluster, workDir, call, close } = await startBenchCluster({ name: 'start', nodes: defaultNodes('wb', 77) });
  try {
    const api = (path: string, body?: unknown): Promise<Pod> => call<Pod>(body ? 'POST' : 'GET', path, body);
    const runOne = async (body: Record<string, unknown>): Promise<{ ms: number; pod: Pod; sent: number }> => {
      const sent = Date.now();
      const { id } = await api('/v1/pods', body);
      for (;;) {
        const pod = await api(`/v1/pods/${id}`);
        const running = pod.timeline['Running'];
        if (running) return { ms: Date.parse(running) - sent, pod, sent };
        if (['Failed', 'Stopped', 'Lost'].includes(pod.phase)) throw new Error(`bench pod ${id} ended ${pod.phase}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const body = { image: 'warmpod/hello:latest', command: ['sh', '-c', 'exit 0'] };
    // Warm both nodes' caches first: the benchmark measures warm starts.
    for (const zone of ['a', 'b']) await runOne({ ...body, nodeSelector: { zone } });

    const latencies: number[] = [];
    const steps: Record<string, number[]> = { admission: [], placement: [], 'hand-off to node': [], 'node start': [] };
    for (let i = 0; i < PODS; i++) {
      const { ms, pod, sent } = await runOne(body);
      latencies.push(ms);
      const t = (phase: string) => Date.parse(pod.timeline[phase]!);
      steps['admission']!.push(t('Pending') - sent);
      steps['placement']!.push(t('Scheduled') - t('Pending'));
      steps['hand-off to node']!.push(t('Starting') - t('Scheduled'));
      steps['node start']!.push(t('Running') - t('Starting'));
    }

    const digestHex = cluster.images!.hello.slice('sha256:'.length);
    const bare = bareRuncRuns(join(workDir, 'nodes', 'node-1', 'images', 'unpacked', digestHex), BARE_RUNS);

    const p50 = median(latencies);
    const bareMedian = median(bare);
    const f = (n: number) => `${n.toFixed(1)} ms`;
    console.log(
      table([
        ['measure', 'value', 'note'],
        ['pods', String(PODS), 'sequential, warm cache, small busybox image'],
        ['request->Running p50', f(p50), 'POST /v1/pods to the Running timestamp'],
        ['request->Running p95', f(percentile(latencies, 95)), ''],
        ['request->Running p99', f(percentile(latencies, 99)), 'target < 1000 ms'],
        ['bare runc run -d median', f(bareMedian), `${BARE_RUNS} runs of the same image, same machine, same run`],
        ['ratio p50 / bare runc', (p50 / bareMedian).toFixed(2), 'target <= 1.25'],
        ...Object.entries(steps).map(([step, sample]): [string, string, string] => [`  ${step} p50`, f(median(sample)), STEP_NOTES[step]!]),
      ]),
    );
    printResults({
      start_pods_count: PODS,
      start_p50_ms: p50,
      start_p95_ms: percentile(latencies, 95),
      start_p99_ms: percentile(latencies, 99),
      bare_runc_p50_ms: bareMedian,
      start_over_bare_runc: p50 / bareMedian,
      admission_p50_ms: median(steps['admission']!),
      placement_p50_ms: median(steps['placement']!),
      hand_off_p50_ms: median(steps['hand-off to node']!),
      node_start_p50_ms: median(steps['node start']!),
    });
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
