import { isTerminal, planPlacement, summariseRejections, type PodRecord } from '@warmpod/domain';
import type { JobBus, JobData, JobHandler, PodRef } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import type { NodeRepository, PodRepository } from '@warmpod/store';

/** Thrown to make BullMQ retry later: nothing fits now. */
export class NoFitError extends Error {
  override readonly name = 'NoFitError';
}

/**
 * Places one Pending pod. Safe to run twice: a pod already Scheduled only
 * has its start job (deduplicated by id) re-sent, anything later is left alone.
 */
export class SchedulePodHandler implements JobHandler<'schedule-pod'> {
  constructor(
    private readonly pods: PodRepository,
    private readonly nodes: NodeRepository,
    private readonly bus: JobBus,
    private readonly readyWindowMs: number,
    private readonly logger: Logger,
  ) {}

  async run({ podId, requestId }: JobData<'schedule-pod'>): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod) return;
    if (pod.phase === 'Scheduled' && pod.node) {
      await this.bus.toNode(pod.node, { name: 'start-pod', data: { podId, requestId } });
      return;
    }
    if (pod.phase !== 'Pending') return;

    const node = await this.place(pod);
    if (node) await this.bus.toNode(node, { name: 'start-pod', data: { podId, requestId } });
  }

  private async place(pod: PodRecord): Promise<string | undefined> {
    const want = { digest: pod.image.digest, resources: pod.spec.resources, nodeSelector: pod.spec.nodeSelector };
    const plan = planPlacement(await this.nodes.views(this.readyWindowMs), want);
    for (const candidate of plan.candidates) {
      // The plan is a snapshot; the reservation is the real, atomic check.
      if (!(await this.nodes.reserve(candidate.node, pod.id, pod.spec.resources))) continue;
      const placement = { node: candidate.node, why: candidate.why, candidates: plan.candidates.length };
      const moved = await this.pods.transition(pod.id, 'Scheduled', { node: candidate.node, placement, message: null });
      if (!moved.applied) {
        // Stopped or gone meanwhile: give the capacity back. But if another run of
        // this job placed it on this very node, the reservation is that run's.
        const now = await this.pods.get(pod.id);
        if (!now || isTerminal(now.phase) || now.node !== candidate.node) await this.nodes.release(candidate.node, pod.id);
        this.logger.info({ phase: moved.previous ?? 'deleted' }, 'pod left Pending during placement');
        return undefined;
      }
      this.logger.info({ node: candidate.node, why: candidate.why, candidates: plan.candidates.length }, 'pod scheduled');
      return candidate.node;
    }
    const reason =
      plan.candidates.length > 0
        ? 'all fitting nodes filled up during placement'
        : `no node fits: ${summariseRejections(plan)}`;
    await this.pods.annotate(pod.id, { message: reason });
    throw new NoFitError(reason);
  }

  async onGiveUp({ podId }: PodRef, error: Error): Promise<void> {
    const pod = await this.pods.get(podId);
    await this.pods.transition(podId, 'Failed', { error: `unschedulable: ${error.message}` }, pod?.node);
  }
}
