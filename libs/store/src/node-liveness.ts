import type { Redis } from 'ioredis';
import { nodeChangeMessage } from './change-messages';
import { Keys } from './keys';
import { markNodeLost } from './scripts/node-scripts';

/** Declares nodes lost; one atomic step so that several scheduler replicas act once. */
export class NodeLiveness {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** True for the one caller that marks the node lost; false when it is alive or already marked. */
  async markLost(nodeId: string, staleBefore: Date, now = new Date()): Promise<boolean> {
    return markNodeLost.run(
      this.redis,
      { node: this.keys.node(nodeId) },
      {
        staleBeforeIso: staleBefore.toISOString(),
        nowIso: now.toISOString(),
        channel: this.keys.nodesChanged(),
        change: nodeChangeMessage(nodeId, 'lost'),
      },
    );
  }
}
