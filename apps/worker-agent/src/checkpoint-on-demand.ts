import { PermanentJobError } from '@warmpod/jobs';
import type { PodRepository } from '@warmpod/store';
import { CheckpointFailedError, type PodCheckpoints } from './pod-checkpoints';
import type { PodLocks } from './pod-locks';

export interface CheckpointOnDemandDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'annotate'>;
  /** Undefined: this node cannot checkpoint. */
  checkpoints: Pick<PodCheckpoints, 'capable' | 'take' | 'refuse'> | undefined;
  locks: PodLocks;
  /** A checkpoint taken is reported in the node's inventory. */
  reportChange: () => void;
}

/**
 * The checkpoint-pod job: a checkpoint of a Running pod on demand, leaving
 * it running. The API wrote the pending record; a request that cannot be
 * met is written on it as failed, and the job fails for good.
 */
export class CheckpointOnDemand {
  constructor(private readonly deps: CheckpointOnDemandDeps) {}

  async take(podId: string, checkpointId: string): Promise<void> {
    const { nodeId, pods, checkpoints, locks, reportChange } = this.deps;
    await locks.with(podId, async () => {
      const pod = await pods.get(podId);
      const refuse = async (reason: string): Promise<never> => {
        await checkpoints?.refuse(checkpointId, reason);
        throw new PermanentJobError(reason);
      };
      if (!checkpoints?.capable) return refuse(`node ${nodeId} cannot checkpoint: criu check failed`);
      if (!pod || pod.phase !== 'Running' || pod.node !== nodeId) return refuse(`pod ${podId} is not running on ${nodeId}`);
      try {
        const taken = await checkpoints.take(pod, { checkpointId });
        await pods.annotate(podId, { checkpoint: { ...pod.checkpoint, taken: taken.id } });
        reportChange();
      } catch (error) {
        if (error instanceof CheckpointFailedError) throw new PermanentJobError(error.message);
        throw error;
      }
    });
  }

  /** Retries ran out: the record says why. */
  async gaveUp(checkpointId: string, error: Error): Promise<void> {
    await this.deps.checkpoints?.refuse(checkpointId, error.message);
  }
}
