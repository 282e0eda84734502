import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { describeIssues, type PodRecord } from '@warmpod/domain';
import { intakeOptionsSchema, runPodResultSchema, type IntakeOptions, type RunPodProgress, type RunPodResult } from '@warmpod/client';
import { messageOf, type Logger } from '@warmpod/observability';
import { PodRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { PodAdmission } from '../pods/pod-admission';
import { PodStopper } from '../pods/pod-stopper';
import { PodChanges, SAFETY_REREAD_MS } from '../events/pod-changes';
import { CONFIG, LOGGER } from '../providers';
import { jobFailure, refusal } from './job-failure';
import { podOutcome } from './pod-outcome';

/** BullMQ job ids double as idempotency keys: the REST header's characters, without ':' (BullMQ's separator). */
const JOB_ID = /^[A-Za-z0-9._-]{1,120}$/;

/** The idempotency key of a queue-door job: its id, kept apart from REST keys. */
export function idempotencyKeyOfJob(jobId: string): string {
  return `job:${jobId}`;
}

/**
 * A run-pod job: admission through the same `PodAdmission` as POST /v1/pods
 * (the job id as idempotency key, so a job run again, or added again with the
 * same id, finds its pod), then the pod followed to `waitFor`, each phase
 * reported as the job's progress: woken by the pod's events (PodChanges),
 * re-read every `INTAKE_POLL_MS` when the event log is off.
 */
@Injectable()
export class RunPodJob {
  constructor(
    private readonly admission: PodAdmission,
    private readonly pods: PodRepository,
    private readonly stopper: PodStopper,
    private readonly changes: PodChanges,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Resolves with the pod record, or throws the job's failure; `signal` aborts the wait (the door closing). */
  async run(tenant: string, job: Job, signal: AbortSignal): Promise<RunPodResult> {
    const jobId = String(job.id);
    const { options, body } = this.checked(job);
    const requestId = `job-${tenant}-${jobId}`.slice(0, 128);
    let pod: PodRecord;
    try {
      pod = (await this.admission.admit({ tenant, body, idempotencyKey: idempotencyKeyOfJob(jobId), requestId })).pod;
    } catch (error) {
      throw jobFailure(error);
    }
    const deadline = Date.parse(pod.createdAt) + options.timeoutSeconds * 1_000;
    const rereadMs = this.changes.live ? SAFETY_REREAD_MS : this.config.intake.pollMs;
    let reported: string | undefined;
    // Watching before each read: a change after the read wakes the wait.
    const watch = this.changes.watch(pod.id);
    try {
      for (;;) {
        const next = await this.pods.get(pod.id);
        if (!next) throw refusal(410, 'pod_gone', `pod ${pod.id} no longer exists`);
        pod = next;
        if (pod.phase !== reported) {
          reported = pod.phase;
          await job.updateProgress(progressOf(pod));
        }
        const outcome = podOutcome(pod, options.waitFor);
        if (outcome.kind === 'done') return resultOf(pod);
        if (outcome.kind === 'fail') throw refusal(409, outcome.code, outcome.message);
        if (Date.now() >= deadline) return this.timedOut(tenant, pod, options, requestId);
        await watch.next(Math.min(rereadMs, Math.max(deadline - Date.now(), 1)), signal);
        signal.throwIfAborted();
      }
    } finally {
      watch.close();
    }
  }

  /** Size, job id and intake options, checked before admission sees the pod request. */
  private checked(job: Job): { options: IntakeOptions; body: unknown } {
    const limit = this.config.intake.dataLimitBytes;
    const size = Buffer.byteLength(JSON.stringify(job.data ?? null));
    if (size > limit) throw refusal(413, 'payload_too_large', `the job data is ${size} bytes; the limit is ${limit}`);
    if (!JOB_ID.test(String(job.id))) {
      throw refusal(400, 'invalid_request', 'the job id is not a valid idempotency key', [
        { path: 'jobId', message: '1-120 characters from [A-Za-z0-9._-]' },
      ]);
    }
    const data: unknown = job.data;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return { options: intakeOptionsSchema.parse({}), body: data };
    const { waitFor, timeoutSeconds, ...body } = data as Record<string, unknown>;
    const parsed = intakeOptionsSchema.safeParse({
      ...(waitFor !== undefined ? { waitFor } : {}),
      ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    });
    if (!parsed.success) throw refusal(400, 'invalid_request', 'the intake options are not valid', describeIssues(parsed.error));
    return { options: parsed.data, body };
  }

  /** The pod did not reach `waitFor` in time: nobody waits for it any more, so it is stopped. */
  private async timedOut(tenant: string, pod: PodRecord, options: IntakeOptions, requestId: string): Promise<never> {
    await this.stopper
      .stop(tenant, pod.id, requestId)
      .catch((error: unknown) => this.logger.warn({ podId: pod.id, err: messageOf(error) }, 'could not stop a timed-out pod'));
    throw refusal(
      408,
      'timeout',
      `pod ${pod.id} was not ${options.waitFor === 'Running' ? 'Running' : 'ended'} within ${options.timeoutSeconds} s (last phase ${pod.phase}); it was stopped`,
    );
  }
}

function progressOf(pod: PodRecord): RunPodProgress {
  const timeline: Record<string, string> = {};
  for (const [phase, at] of Object.entries(pod.timeline)) if (at !== undefined) timeline[phase] = at;
  return { podId: pod.id, phase: pod.phase, at: pod.timeline[pod.phase] ?? new Date().toISOString(), timeline };
}

/** The job's return value, held to the published result schema. */
function resultOf(pod: PodRecord): RunPodResult {
  return runPodResultSchema.parse({
    id: pod.id,
    tenant: pod.tenant,
    phase: pod.phase,
    image: pod.image,
    node: pod.node,
    startMode: pod.startMode,
    endpoints: pod.endpoints,
    exitCode: pod.exitCode,
    error: pod.error,
    message: pod.message,
    timeline: progressOf(pod).timeline,
    restarts: pod.restarts,
    labels: pod.labels,
    createdAt: pod.createdAt,
  });
}
