import { Inject, Injectable } from '@nestjs/common';
import { isTerminal, type PodRecord } from '@warmpod/domain';
import { JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import { PodBacklog, PodRepository } from '@warmpod/store';
import { ApiError } from '../http/api-error';
import { LOGGER } from '../providers';
import { TenantPods } from './tenant-pods';

/**
 * A user's stop: a pod that is not on a node yet stops at once; one on a
 * node is stopped by that node's agent; a finished pod stays as it is.
 */
@Injectable()
export class PodStopper {
  constructor(
    private readonly tenantPods: TenantPods,
    private readonly pods: PodRepository,
    private readonly jobs: JobBus,
    private readonly backlog: PodBacklog,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async stop(tenant: string, id: string, requestId: string): Promise<PodRecord> {
    const pod = await this.tenantPods.get(tenant, id);
    if (isTerminal(pod.phase)) return pod;

    if (pod.phase === 'Pending') {
      // Only from Pending: if the scheduler placed it meanwhile, its node must stop it.
      const moved = await this.pods.transition(id, 'Stopped', { message: 'stopped by the user before it was scheduled' }, undefined, [
        'Pending',
      ]);
      if (moved.applied) {
        // The scheduler skips Stopped pods anyway; withdrawing only saves it the work.
        await this.jobs
          .withdraw(SCHEDULING_QUEUE, { name: 'schedule-pod', data: { podId: id, requestId } })
          .catch((error: unknown) => this.logger.debug({ podId: id, err: error }, 'schedule-pod job not withdrawn'));
        // A pod waiting for room is listed in the backlog: it waits no more (the chaos run found such entries left).
        await this.backlog.remove(id).catch((error: unknown) => this.logger.warn({ podId: id, err: error }, 'backlog entry not removed'));
        return this.tenantPods.get(tenant, id);
      }
      // Scheduled in the meantime: it has a node now, stop it there.
    }
    return this.stopOnNode(tenant, id, requestId);
  }

  private async stopOnNode(tenant: string, id: string, requestId: string): Promise<PodRecord> {
    const pod = await this.tenantPods.get(tenant, id);
    if (isTerminal(pod.phase)) return pod;
    if (!pod.node) {
      // Not Pending and not on a node is not a state the scheduler leaves a pod in.
      throw new ApiError(409, 'conflict', `pod is ${pod.phase} without a node; retry the stop`);
    }
    await this.pods.annotate(id, { stopRequested: true });
    await this.jobs.toNode(pod.node, { name: 'stop-pod', data: { podId: id, requestId, reason: 'user' } });
    this.logger.info({ podId: id, node: pod.node }, 'stop requested');
    return this.tenantPods.get(tenant, id);
  }
}
