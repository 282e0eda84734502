import type { QueueKind } from './catalog';

export interface RetryPolicy {
  attempts: number;
  /** Backoff for attempt n (1-based), in ms. */
  backoffMs(attempt: number): number;
  /** How a job whose worker died (SIGKILL, a lost machine) is taken back; see `STALL_POLICIES`. */
  stall: StallPolicy;
}

/**
 * BullMQ's stalled-job recovery, per queue kind. A worker holds a lock on
 * each active job and renews it every `lockDurationMs / 2`; when its process
 * dies the lock expires, and the next stalled check of any live worker on
 * the queue (every `stalledIntervalMs`) puts the job back in the queue. So a
 * job of a dead worker runs again within about lockDuration + stalledInterval.
 * BullMQ's defaults (30 s + 30 s, and failing a job stalled more than once)
 * left a pod Pending for up to a minute after a scheduler replica died, and
 * failed its placement outright when a second replica died during the
 * retry. Handlers are idempotent (STYLE item 4), so running again is safe:
 * `maxStalledCount` is generous. Locks stay far above any event-loop pause
 * the services show, so a live worker never loses a job it is running.
 */
export interface StallPolicy {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/**
 * Scheduling retries are how a pod waits for capacity, so they keep going
 * with a capped backoff; node jobs touch the runtime, so a few tries with a
 * short exponential backoff are enough to ride out a transient fault.
 * Placements take milliseconds: a dead replica's jobs come back within ~15 s.
 * Node jobs run longer (pulls, restores, readiness waits; the lock is
 * renewed meanwhile) and come back to the restarted agent of their node.
 */
export const RETRY_POLICIES: Record<QueueKind, RetryPolicy> = {
  scheduling: {
    attempts: 200,
    backoffMs: (n) => Math.min(250 * 2 ** (n - 1), 5_000),
    stall: { lockDurationMs: 10_000, stalledIntervalMs: 5_000, maxStalledCount: 10 },
  },
  node: {
    attempts: 3,
    backoffMs: (n) => 500 * 2 ** (n - 1),
    stall: { lockDurationMs: 15_000, stalledIntervalMs: 10_000, maxStalledCount: 5 },
  },
};
