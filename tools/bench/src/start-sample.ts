import type { BenchCluster } from './bench-cluster';
import { median, percentile } from './stats';

/** Where a warm start's time goes, phase to phase of the pod timeline. */
export const STEP_NOTES: Record<string, string> = {
  admission: 'request sent -> Pending (auth, validation, registry HEAD, store)',
  placement: 'Pending -> Scheduled (queue hop, plan, reservation)',
  'hand-off to node': 'Scheduled -> Starting (queue hop, cache check)',
  'node start': 'Starting -> Running (overlay, netns+CNI, runc, ports)',
};

interface Pod {
  id: string;
  phase: string;
  timeline: Record<string, string>;
}

/** The pod the benchmark starts: a small busybox image that exits at once. */
export const BENCH_POD = { image: 'warmpod/hello:latest', command: ['sh', '-c', 'exit 0'] };

/**
 * Request-to-Running latencies of pods started one at a time on one
 * cluster, with the per-step split of each start.
 */
export class StartSample {
  readonly latencies: number[] = [];
  readonly steps: Record<string, number[]> = Object.fromEntries(Object.keys(STEP_NOTES).map((step) => [step, []]));

  constructor(private readonly bench: BenchCluster) {}

  /** Starts one pod and waits (polling its record) until it is Running; the sample is not touched (warm-up). */
  async start(body: Record<string, unknown> = BENCH_POD): Promise<void> {
    await this.run(body);
  }

  /** One measured start: its latency and its steps go into the sample. */
  async measure(): Promise<void> {
    const { pod, sent } = await this.run(BENCH_POD);
    this.record(pod, sent);
  }

  private async run(body: Record<string, unknown>): Promise<{ pod: Pod; sent: number }> {
    const sent = Date.now();
    const { id } = await this.bench.call<Pod>('POST', '/v1/pods', body);
    for (;;) {
      const pod = await this.bench.call<Pod>('GET', `/v1/pods/${id}`);
      if (pod.timeline['Running']) return { pod, sent };
      if (['Failed', 'Stopped', 'Lost'].includes(pod.phase)) throw new Error(`bench pod ${id} ended ${pod.phase}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private record(pod: Pod, sent: number): void {
    const t = (phase: string) => Date.parse(pod.timeline[phase]!);
    this.latencies.push(t('Running') - sent);
    this.steps['admission']!.push(t('Pending') - sent);
    this.steps['placement']!.push(t('Scheduled') - t('Pending'));
    this.steps['hand-off to node']!.push(t('Starting') - t('Scheduled'));
    this.steps['node start']!.push(t('Running') - t('Starting'));
  }

  p(percent: number): number {
    return percentile(this.latencies, percent);
  }

  stepMedian(step: string): number {
    return median(this.steps[step] ?? []);
  }
}
