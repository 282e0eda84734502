import type { Queue } from 'bullmq';
import { within, type ServiceMetrics } from '@warmpod/observability';

/** Job states a queue's depth is reported in. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
/** A scrape waits at most this long for a queue's counts. */
const COUNTS_TIMEOUT_MS = 1_000;

/**
 * Queue metrics of one process: failed job runs per queue kind (counted by
 * the JobRunner that consumes it), and the depth of the queues it watches,
 * read from BullMQ on scrape, each within a time limit (a Redis outage shows
 * as `warmpod_queue_up 0`, never as a scrape that hangs).
 */
export class JobMetrics {
  private readonly failures;
  private readonly queues = new Map<string, Queue>();

  constructor(metrics: ServiceMetrics) {
    this.failures = metrics.counter('warmpod_job_failures_total', 'Failed job runs, by queue kind and whether the job gave up (final)', [
      'queue',
      'final',
    ]);
    const up = metrics.gauge('warmpod_queue_up', 'Whether the last scrape read the queue counts (1) or Redis did not answer in time (0)', [
      'queue',
    ]);
    metrics.gauge('warmpod_queue_jobs', 'Jobs in a queue by state, read on scrape', ['queue', 'state'], async (gauge) => {
      gauge.reset();
      await Promise.all(
        [...this.queues].map(async ([label, queue]) => {
          try {
            const counts = await within(queue.getJobCounts(...QUEUE_STATES), COUNTS_TIMEOUT_MS, `${label} queue counts`);
            for (const state of QUEUE_STATES) gauge.set({ queue: label, state }, counts[state] ?? 0);
            up.set({ queue: label }, 1);
          } catch {
            up.set({ queue: label }, 0);
          }
        }),
      );
    });
  }

  /** Reports this queue's depth under `label` (a queue kind, never a pod or node id). */
  watch(label: string, queue: Queue): void {
    this.queues.set(label, queue);
  }

  failed(queue: string, final: boolean): void {
    this.failures.inc({ queue, final: String(final) });
  }
}
