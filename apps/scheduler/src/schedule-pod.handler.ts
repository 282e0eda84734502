import { isTerminal, planPlacement, summariseRejections, type PodRecord } from '@warmpod/domain';
import type { JobBus, JobData, JobHandler, PodRef } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import type { NodeRepository, PodRepository, PrepullHints } from '@warmpod/store';
import type { Backlog } from './backlog';

/** Thrown to make BullMQ retry later: nothing fits now. */
export class NoFitError extends Error {
  override readonly name = 'NoFitError';
}

export interface SchedulerPorts {
  pods: PodRepository;
  nodes: NodeRepository;
  bus: JobBus;
  backlog: Backlog;
  hints: PrepullHints;
}

/**
 * Places one Pending pod. Safe to run twice: a pod already Scheduled only
 * has its start job (deduplicated by id) re-sent, anything later is left alone.
 */
export class SchedulePodHandler implements JobHandler<'schedule-pod'> {
  constructor(
    private readonly ports: SchedulerPorts,
    private readonly readyWindowMs: number,
    private readonly logger: Logger,
  ) {}

  async run({ podId, requestId }: JobData<'schedule-pod'>, meta: { jobId: string }): Promise<void> {
    const { pods, bus, backlog } = this.ports;
    const pod = await pods.get(podId);
    if (!pod || pod.phase !== 'Pending') {
      await backlog.remove(podId);
      if (pod?.phase === 'Scheduled' && pod.node) {
        await bus.toNode(pod.node, startJob(pod, requestId));
      }
      return;
    }
    try {
      const node = await this.place(pod);
      await backlog.remove(podId);
      if (node) await bus.toNode(node, startJob(pod, requestId));
    } catch (error) {
      // Waiting for room: the backlog promotes this job when capacity frees up.
      if (error instanceof NoFitError) await backlog.add(podId, meta.jobId);
      throw error;
    }
  }

  private async place(pod: PodRecord): Promise<string | undefined> {
    const { pods, nodes, hints } = this.ports;
    const want = { digest: pod.image.digest, resources: pod.spec.resources, nodeSelector: pod.spec.nodeSelector };
    const views = await nodes.views(this.readyWindowMs);
    const plan = planPlacement(views, want);
    if (!views.some((n) => n.cachedDigests.has(pod.image.digest))) await hints.hint(pod.image.pinned);
    for (const candidate of plan.candidates) {
      // The plan is a snapshot; the reservation is the real, atomic check.
      if (!(await nodes.reserve(candidate.node, pod.id, pod.spec.resources))) continue;
      const placement = { node: candidate.node, why: candidate.why, candidates: plan.candidates.length };
      const moved = await pods.transition(pod.id, 'Scheduled', { node: candidate.node, placement, message: null });
      if (!moved.applied) {
        // Stopped or gone meanwhile: give the capacity back. But if another run of
        // this job placed it on this very node, the reservation is that run's.
        const now = await pods.get(pod.id);
        if (!now || isTerminal(now.phase) || now.node !== candidate.node) await nodes.release(candidate.node, pod.id);
        this.logger.info({ phase: moved.previous ?? 'deleted' }, 'pod left Pending during placement');
        return undefined;
      }
      this.logger.info({ node: candidate.node, why: candidate.why, candidates: plan.candidates.length }, 'pod scheduled');
      return candidate.node;
    }
    const reason =
      plan.candidates.length > 0 ? 'all fitting nodes filled up during placement' : `no node fits: ${summariseRejections(plan)}`;
    await pods.annotate(pod.id, { message: reason });
    throw new NoFitError(reason);
  }

  async onGiveUp({ podId }: PodRef, error: Error): Promise<void> {
    await this.ports.backlog.remove(podId);
    const pod = await this.ports.pods.get(podId);
    await this.ports.pods.transition(podId, 'Failed', { error: `unschedulable: ${error.message}` }, pod?.node);
  }
}

/** A pod placed again after losing its node gets a new start job, not a duplicate of the old one. */
function startJob(pod: PodRecord, requestId: string) {
  return { name: 'start-pod' as const, data: { podId: pod.id, requestId, ...(pod.restarts > 0 ? { generation: pod.restarts } : {}) } };
}
