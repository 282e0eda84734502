import { Injectable } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { cancelDataSchema, RUN_POD, runPodProgressSchema, type CancelResult } from '@warmpod/client';
import { describeIssues } from '@warmpod/domain';
import { PodRepository } from '@warmpod/store';
import { PodStopper } from '../pods/pod-stopper';
import { jobFailure, refusal } from './job-failure';
import { idempotencyKeyOfJob } from './run-pod-job';

/** States in which a run-pod job has not been picked up: removing it is the whole cancel. */
const NOT_STARTED = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused']);

/**
 * A cancel job (on the tenant's control queue): a run-pod job still waiting
 * is removed; otherwise its pod is stopped, which fails the run-pod job
 * with `pod_stopped`. A run-pod job taken but not yet admitted is retried.
 */
@Injectable()
export class CancelJob {
  constructor(
    private readonly pods: PodRepository,
    private readonly stopper: PodStopper,
  ) {}

  async run(tenant: string, intake: Queue, job: Job): Promise<CancelResult> {
    const parsed = cancelDataSchema.safeParse(job.data);
    if (!parsed.success) throw refusal(400, 'invalid_request', 'the cancel job is not valid', describeIssues(parsed.error));
    const { jobId } = parsed.data;
    const target: Job | undefined = await intake.getJob(jobId);
    const state = target && target.name === RUN_POD ? await target.getState() : undefined;
    if (target && state && NOT_STARTED.has(state)) {
      // A job taken meanwhile is locked and refuses removal: then its pod is stopped below.
      const removed = await target.remove().then(
        () => true,
        () => false,
      );
      if (removed) return { removed: true };
    }
    const podId = podIdOf(target) ?? (await this.pods.podIdForKey(tenant, idempotencyKeyOfJob(jobId)));
    if (!podId) {
      if (target && state === 'active') throw new Error(`run-pod job ${jobId} has no pod yet; retrying`);
      throw refusal(404, 'not_found', `no run-pod job ${jobId} with a pod`, [{ path: 'jobId', message: 'no such job' }]);
    }
    try {
      await this.stopper.stop(tenant, podId, `cancel-${tenant}-${jobId}`.slice(0, 128));
    } catch (error) {
      throw jobFailure(error);
    }
    return { removed: false, stopped: podId };
  }

  /** A run-pod job was removed by its producer: the pod it made (if any) is stopped. */
  async onRemoved(tenant: string, jobId: string): Promise<string | undefined> {
    const podId = await this.pods.podIdForKey(tenant, idempotencyKeyOfJob(jobId));
    if (podId) await this.stopper.stop(tenant, podId, `removed-${tenant}-${jobId}`.slice(0, 128));
    return podId;
  }
}

function podIdOf(job: Job | undefined): string | undefined {
  const progress = runPodProgressSchema.safeParse(job?.progress);
  return progress.success ? progress.data.podId : undefined;
}
