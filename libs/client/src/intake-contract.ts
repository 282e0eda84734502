import { z } from 'zod';
import { POD_PHASES, podRequestSchema } from '@warmpod/domain';

/**
 * The queue door's contract: what a producer adds to its tenant's intake
 * queue and what it gets back. The consumer (the gateway) validates job data
 * with these schemas where it enters; the client validates results with them.
 */

/** The intake queue's name, under the tenant's BullMQ prefix (given to each producer with its Redis user). */
export const INTAKE_QUEUE = 'pods';
/**
 * Cancel jobs travel beside it, on a queue without the in-flight limit and
 * the rate limiter, so a cancel never waits behind the jobs it cancels.
 */
export const CONTROL_QUEUE = 'control';
/** Every queue under a tenant's intake prefix: its producer's Redis user reaches these and no other there. */
export const INTAKE_QUEUES = [INTAKE_QUEUE, CONTROL_QUEUE] as const;

export const RUN_POD = 'run-pod';
export const CANCEL = 'cancel';

/** When a run-pod job completes: once the pod is Running, or once it has ended. */
export const WAIT_FOR = ['Running', 'Ended'] as const;
export type WaitFor = (typeof WAIT_FOR)[number];

export const TIMEOUT_SECONDS_MAX = 86_400;

/** What a queue client adds to a pod request. */
export const intakeOptionsSchema = z.strictObject({
  waitFor: z.enum(WAIT_FOR).default('Running'),
  /** From admission; a pod not at `waitFor` by then is stopped and the job fails with `timeout`. */
  timeoutSeconds: z.number().int().min(1).max(TIMEOUT_SECONDS_MAX).default(600),
});
export type IntakeOptions = z.infer<typeof intakeOptionsSchema>;

/** A run-pod job's data: the body of `POST /v1/pods` plus the intake options. */
export const runPodDataSchema = podRequestSchema.extend(intakeOptionsSchema.shape);
/** What a producer may send (defaults still unapplied). */
export type RunPodData = z.input<typeof runPodDataSchema>;

/** A cancel job: stop the pod of the run-pod job `jobId` (or drop that job if it has not started). */
export const cancelDataSchema = z.strictObject({ jobId: z.string().min(1).max(128) });
export type CancelData = z.infer<typeof cancelDataSchema>;

/** A run-pod job's progress: the pod's phase as it moves, with the time it entered it. */
export const runPodProgressSchema = z.object({
  podId: z.string(),
  phase: z.enum(POD_PHASES),
  at: z.string(),
  timeline: z.record(z.string(), z.string()),
});
export type RunPodProgress = z.infer<typeof runPodProgressSchema>;

/** A run-pod job's return value: the pod record once it reached `waitFor`. */
export const runPodResultSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  phase: z.enum(POD_PHASES),
  image: z.object({ requested: z.string(), pinned: z.string(), digest: z.string() }),
  node: z.string().optional(),
  startMode: z.enum(['cold', 'warm-cache', 'restored', 'fallback', 'warm-pool']).optional(),
  endpoints: z.array(z.object({ containerPort: z.number().int(), address: z.string() })),
  exitCode: z.number().int().optional(),
  error: z.string().optional(),
  message: z.string().optional(),
  timeline: z.record(z.string(), z.string()),
  restarts: z.number().int(),
  labels: z.record(z.string(), z.string()),
  createdAt: z.string(),
});
export type RunPodResult = z.infer<typeof runPodResultSchema>;

/** The result of a cancel job. */
export const cancelResultSchema = z.object({
  /** The run-pod job was still waiting and was removed: no pod was started. */
  removed: z.boolean(),
  /** The pod that was asked to stop. */
  stopped: z.string().optional(),
});
export type CancelResult = z.infer<typeof cancelResultSchema>;

/** A failed job's `failedReason`: the REST API's error body, as JSON. */
export const intakeErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});
export type IntakeErrorBody = z.infer<typeof intakeErrorSchema>;

/** A job that failed: the same code, message and field details the REST door answers with. */
export class WarmpodJobError extends Error {
  override readonly name = 'WarmpodJobError';

  constructor(
    readonly code: string,
    message: string,
    readonly details: IntakeErrorBody['error']['details'] = [],
  ) {
    super(message);
  }

  /** Reads a job's `failedReason`; a reason not in warmpod's shape (a BullMQ error) keeps its text under `job_failed`. */
  static fromFailedReason(reason: string): WarmpodJobError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(reason);
    } catch {
      return new WarmpodJobError('job_failed', reason);
    }
    const body = intakeErrorSchema.safeParse(parsed);
    if (!body.success) return new WarmpodJobError('job_failed', reason);
    return new WarmpodJobError(body.data.error.code, body.data.error.message, body.data.error.details);
  }
}
