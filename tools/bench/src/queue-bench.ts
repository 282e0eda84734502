import { QueueEvents } from 'bullmq';
import { runPodProgressSchema, WarmpodQueueClient } from '@warmpod/client';
import { startBenchCluster } from './bench-cluster';
import { printResults } from './result-lines';
import { percentile, table } from './stats';

/**
 * `npm run bench:queue [RUNS]`: admission latency through the queue door next
 * to the REST door, in one run on one local cluster (no nodes: admission is
 * what is measured, so pods stay Pending and are stopped after each sample).
 * REST: POST /v1/pods until its 202. Queue: a run-pod job added by the
 * tenant's producer (its own Redis user) until its first progress, which the
 * door reports once the pod is stored and its schedule-pod job queued.
 * Samples alternate between the doors so both see the same machine.
 */
const RUNS = Number(process.argv[2] ?? 100);
const WARMUP = 5;
const IMAGE = 'warmpod/hello:latest';

async function main(): Promise<void> {
  const bench = await startBenchCluster({
    name: 'queue',
    nodes: [],
    env: { INTAKE_MAX_IN_FLIGHT: '1000', INTAKE_RATE_MAX: '0', GATEWAY_RATE_LIMIT_PER_SECOND: '0' },
  });
  const producer = bench.cluster.producers['bench'];
  if (!producer) throw new Error('the bench cluster made no producer for tenant "bench"');
  const client = new WarmpodQueueClient(producer);
  const events = new QueueEvents('pods', { connection: client.connection, prefix: producer.queuePrefix });
  const waiting = new Map<string, (podId: string) => void>();
  events.on('progress', ({ jobId, data }) => {
    const progress = runPodProgressSchema.safeParse(data);
    if (progress.success) waiting.get(jobId)?.(progress.data.podId);
  });
  try {
    await events.waitUntilReady();
    const rest = async (): Promise<number> => {
      const started = performance.now();
      const pod = await bench.call<{ id: string }>('POST', '/v1/pods', { image: IMAGE });
      const ms = performance.now() - started;
      await bench.call('DELETE', `/v1/pods/${pod.id}`);
      return ms;
    };
    let n = 0;
    const queue = async (): Promise<number> => {
      const jobId = `bench-${n++}`;
      const admitted = new Promise<string>((resolve) => waiting.set(jobId, resolve));
      const started = performance.now();
      await client.addRunPod({ image: IMAGE }, { jobId });
      await admitted;
      const ms = performance.now() - started;
      waiting.delete(jobId);
      await client.cancel(jobId);
      return ms;
    };
    for (let i = 0; i < WARMUP; i++) await Promise.all([await rest(), await queue()]);
    const samples = { rest: [] as number[], queue: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        samples.rest.push(await rest());
        samples.queue.push(await queue());
      } else {
        samples.queue.push(await queue());
        samples.rest.push(await rest());
      }
    }
    const row = (name: string, s: number[]): [string, string, string] => [
      name,
      `${percentile(s, 50).toFixed(1)} / ${percentile(s, 90).toFixed(1)} / ${percentile(s, 99).toFixed(1)}`,
      `${(s.reduce((a, b) => a + b, 0) / s.length).toFixed(1)}`,
    ];
    console.log(`\nadmission latency, ${RUNS} pods per door (${IMAGE}, pinned at the local registry), ms\n`);
    console.log(
      table([
        ['door', 'p50 / p90 / p99', 'mean'],
        row('REST: POST /v1/pods -> 202', samples.rest),
        row('queue: add run-pod -> first progress', samples.queue),
      ]),
    );
    console.log('');
    printResults({
      rest_admission_p50_ms: percentile(samples.rest, 50),
      rest_admission_p90_ms: percentile(samples.rest, 90),
      queue_admission_p50_ms: percentile(samples.queue, 50),
      queue_admission_p90_ms: percentile(samples.queue, 90),
      queue_over_rest_p50: percentile(samples.queue, 50) / percentile(samples.rest, 50),
    });
  } finally {
    await events.close();
    await client.close();
    await bench.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
