import type { Redis } from 'ioredis';
import { runScript } from './connection';
import { Keys } from './keys';
import { MARK_LOST } from './lua';

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
    const result = (await runScript(
      this.redis,
      MARK_LOST,
      [this.keys.node(nodeId)],
      [staleBefore.toISOString(), now.toISOString(), this.keys.nodesChanged(), nodeId],
    )) as number;
    return result === 1;
  }
}
