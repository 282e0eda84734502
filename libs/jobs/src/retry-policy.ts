import type { QueueKind } from './catalog';

export interface RetryPolicy {
  attempts: number;
  /** Backoff for attempt n (1-based), in ms. */
  backoffMs(attempt: number): number;
}

/**
 * Scheduling retries are how a pod waits for capacity, so they keep going
 * with a capped backoff; node jobs touch the runtime, so a few tries with a
 * short exponential backoff are enough to ride out a transient fault.
 */
export const RETRY_POLICIES: Record<QueueKind, RetryPolicy> = {
  scheduling: { attempts: 200, backoffMs: (n) => Math.min(250 * 2 ** (n - 1), 5_000) },
  node: { attempts: 3, backoffMs: (n) => 500 * 2 ** (n - 1) },
};
