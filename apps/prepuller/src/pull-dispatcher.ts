import { randomUUID } from 'node:crypto';

/**
 * Sends a claimed pull to its node. Must be idempotent: the node job id is
 * per digest (`pull-image-<hex>`), so dispatching twice queues one job.
 */
export interface PullDispatcher {
  dispatch(node: string, digest: string, pinned: string, requestId?: string): Promise<void>;
}

/** The producer method the job catalog's `pull-image` job comes with (`JobBus.pullToNode`). */
export interface PullJobProducer {
  pullToNode(nodeId: string, data: { digest: string; pinned: string; requestId: string }): Promise<void>;
}

/** Dispatches through the job bus: one `pull-image` job on `node-<id>`. */
export class BusPullDispatcher implements PullDispatcher {
  constructor(private readonly producer: PullJobProducer) {}

  async dispatch(node: string, digest: string, pinned: string, requestId = `prepull-${randomUUID()}`): Promise<void> {
    await this.producer.pullToNode(node, { digest, pinned, requestId });
  }
}
