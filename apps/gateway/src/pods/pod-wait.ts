import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { describeIssues, isTerminal, type PodRecord } from '@warmpod/domain';
import type { Caller } from '../auth/tokens';
import { PodChanges, SAFETY_REREAD_MS } from '../events/pod-changes';
import { ApiError } from '../http/api-error';
import { TenantPods } from './tenant-pods';

/** The longest a `GET /v1/pods/{id}?wait=Ready` holds the request; proxies and clients time out beyond this. */
export const POD_WAIT_MAX_SECONDS = 60;
export const POD_WAIT_DEFAULT_SECONDS = 30;
/**
 * Re-read interval of a waiting request when the event log is off: one small
 * HGETALL per tick, well under a start's own granularity. With events, the
 * pod's own events wake it (PodChanges).
 */
const POLL_MS = 50;

const waitQuerySchema = z.strictObject({
  wait: z.literal('Ready', 'wait can only be Ready').optional(),
  timeoutSeconds: z.coerce
    .number()
    .int('timeoutSeconds must be a whole number of seconds')
    .min(1, 'timeoutSeconds must be at least 1')
    .max(POD_WAIT_MAX_SECONDS, `timeoutSeconds must be at most ${POD_WAIT_MAX_SECONDS}`)
    .optional(),
});

/** How a wait ended: the pod is ready (Running), it ended (it never will be), or the time limit came first. */
export type WaitOutcome = 'ready' | 'ended' | 'timeout';

export interface WaitedPod {
  pod: PodRecord;
  /** Absent when the request did not ask to wait. */
  outcome?: WaitOutcome;
}

/**
 * `GET /v1/pods/{id}`, and with `?wait=Ready` a bounded long poll for
 * clients that do not follow events: the gateway follows them instead.
 */
@Injectable()
export class PodWait {
  constructor(
    private readonly tenantPods: TenantPods,
    private readonly changes: PodChanges,
  ) {}

  async get(caller: Caller, id: string, query: unknown, signal?: AbortSignal): Promise<WaitedPod> {
    const parsed = waitQuerySchema.safeParse(query ?? {});
    if (!parsed.success) throw ApiError.invalidRequest('the query is not valid', describeIssues(parsed.error, 'query'));
    if (parsed.data.timeoutSeconds !== undefined && parsed.data.wait === undefined) {
      throw ApiError.invalidRequest('the query is not valid', [{ path: 'query.timeoutSeconds', message: 'only with wait=Ready' }]);
    }
    // An operator reads (and waits for) any tenant's pod.
    if (parsed.data.wait === undefined) return { pod: await this.tenantPods.read(caller, id) };
    const deadline = Date.now() + (parsed.data.timeoutSeconds ?? POD_WAIT_DEFAULT_SECONDS) * 1000;
    const rereadMs = this.changes.live ? SAFETY_REREAD_MS : POLL_MS;
    // Watching before each read: a change after the read wakes the wait.
    const watch = this.changes.watch(id);
    try {
      for (;;) {
        const pod = await this.tenantPods.read(caller, id);
        const outcome = waitOutcome(pod);
        if (outcome) return { pod, outcome };
        if (Date.now() >= deadline || signal?.aborted) return { pod, outcome: 'timeout' };
        await watch.next(Math.min(rereadMs, Math.max(0, deadline - Date.now())), signal);
      }
    } finally {
      watch.close();
    }
  }
}

/** Running means ready: a pod turns Running only once its readiness held and its ports are exposed. */
export function waitOutcome(pod: Pick<PodRecord, 'phase'>): Exclude<WaitOutcome, 'timeout'> | undefined {
  if (pod.phase === 'Running') return 'ready';
  return isTerminal(pod.phase) ? 'ended' : undefined;
}
