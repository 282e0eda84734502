import { Inject, Injectable } from '@nestjs/common';
import {
  CHECKPOINT_MAX_GPUS,
  checkpointKey,
  checkpointSpecKey,
  newId,
  runtimeKey,
  type CheckpointRecord,
  type PodRecord,
} from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { CheckpointRepository, NodeRepository, type NewCheckpoint } from '@warmpod/store';
import { ApiError } from '../http/api-error';
import { TenantPods } from '../pods/tenant-pods';
import { TenantLimits } from '../quotas/tenant-limits';
import { LOGGER } from '../providers';
import { CheckpointJobs } from './checkpoint-jobs';
import { checkpointSupportOf } from './node-support';

/**
 * An on-demand checkpoint of a Running pod (the pod keeps running). Every
 * check runs before anything is written; the pending record is written
 * before its job is queued (the agent re-reads it) and removed again when
 * the job cannot be queued, so a refused request leaves nothing behind.
 */
@Injectable()
export class PodCheckpointer {
  constructor(
    private readonly tenantPods: TenantPods,
    private readonly nodes: NodeRepository,
    private readonly checkpoints: CheckpointRepository,
    private readonly jobs: CheckpointJobs,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly limits: TenantLimits,
  ) {}

  async checkpoint(tenant: string, podId: string, requestId: string): Promise<CheckpointRecord> {
    const pod = await this.tenantPods.get(tenant, podId);
    const checkpoint = await this.plan(pod);
    const stored = await this.checkpoints.createWithinQuota(checkpoint, this.limits.of(tenant));
    if ('kind' in stored) throw ApiError.overQuota(stored.refusal);
    const pending = stored.record;
    const job = { name: 'checkpoint-pod', data: { podId: pod.id, requestId, checkpointId: checkpoint.id } } as const;
    try {
      await this.jobs.send(checkpoint.node, job);
    } catch (error) {
      this.logger.error(
        { podId: pod.id, checkpointId: checkpoint.id, err: error },
        'could not enqueue checkpoint-pod; removing the checkpoint record',
      );
      await this.jobs.withdraw(checkpoint.node, job).catch(() => undefined);
      await this.checkpoints
        .remove(checkpoint.id)
        .catch((rollback: unknown) =>
          this.logger.error({ checkpointId: checkpoint.id, err: rollback }, 'rollback of an unqueued checkpoint failed'),
        );
      throw new ApiError(503, 'queue_unavailable', 'the checkpoint could not be queued on its node; nothing was stored, retry later');
    }
    this.logger.info({ podId: pod.id, checkpointId: checkpoint.id, node: checkpoint.node, key: checkpoint.key }, 'checkpoint requested');
    // Read back: a fast agent may already have moved it on.
    return (await this.checkpoints.get(checkpoint.id, tenant)) ?? pending;
  }

  /** The pending checkpoint to record, or the reason this pod cannot be checkpointed now. */
  private async plan(pod: PodRecord): Promise<NewCheckpoint> {
    if (pod.phase !== 'Running') {
      throw new ApiError(409, 'pod_not_running', `the pod is ${pod.phase}; only a Running pod can be checkpointed`, [
        { path: 'phase', message: pod.phase },
      ]);
    }
    const { gpu } = pod.spec.resources;
    if (gpu > CHECKPOINT_MAX_GPUS) {
      throw new ApiError(422, 'checkpoint_unsupported', `the pod uses ${gpu} GPUs; checkpointing supports at most ${CHECKPOINT_MAX_GPUS}`, [
        { path: 'spec.resources.gpu', message: `must be at most ${CHECKPOINT_MAX_GPUS} to checkpoint` },
      ]);
    }
    if (!pod.node) throw new ApiError(409, 'conflict', 'the pod is Running without a node; retry the checkpoint');
    const node = await this.nodes.get(pod.node);
    const support = node ? checkpointSupportOf(node) : { ok: false as const, reason: `node ${pod.node} is no longer registered` };
    if (!support.ok) throw new ApiError(409, 'node_cannot_checkpoint', support.reason, [{ path: 'node', message: support.reason }]);

    // One checkpoint of a pod at a time: a second would only copy the same state again.
    const taking = (await this.checkpoints.listByNode(pod.node)).find((c) => c.pod === pod.id && c.state === 'pending');
    if (taking) {
      throw new ApiError(409, 'checkpoint_in_progress', `checkpoint ${taking.id} of this pod is still being taken`, [
        { path: 'checkpoint', message: taking.id },
      ]);
    }

    const shape = { tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec };
    return {
      id: newId('ckpt'),
      key: checkpointKey({ ...shape, runtime: support.runtime }),
      specKey: checkpointSpecKey(shape),
      runtime: runtimeKey(support.runtime),
      tenant: pod.tenant,
      node: pod.node,
      pod: pod.id,
      digest: pod.image.digest,
      createdAt: new Date().toISOString(),
    };
  }
}
