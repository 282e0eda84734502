import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { assignHintNode } from './scripts/prepull-scripts';

export interface PrepullHint {
  /** `registry/repository@sha256:...` as the scheduler hinted it. */
  pinned: string;
  /** When it was first hinted (ms). */
  since: number;
  /** The node chosen to pull it, once one was. */
  node?: string;
}

/** Channel a hint may be announced on (message: the pinned reference), so the prepuller reacts at once. */
export function prepullHintsChannel(prefix: string): string {
  return new Keys(prefix).prepullHintsAdded();
}

/**
 * The prepuller's side of the scheduler's hints (`PrepullHints`, zset
 * `<prefix>prepull:hints`): reads them with their age, records the one node
 * chosen for each (hash `<prefix>prepull:hints:node`, so replicas agree on
 * it), and drops a hint once a node holds its digest.
 */
export class PrepullHintBook {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async list(limit = 1_000): Promise<PrepullHint[]> {
    const flat = await this.redis.zrange(this.keys.prepullHints(), 0, limit - 1, 'WITHSCORES');
    const pinned: string[] = [];
    for (let i = 0; i < flat.length; i += 2) pinned.push(flat[i]!);
    const nodes = pinned.length > 0 ? await this.redis.hmget(this.keys.prepullHintNodes(), ...pinned) : [];
    return pinned.map((p, i) => ({ pinned: p, since: Number(flat[i * 2 + 1]), ...(nodes[i] ? { node: nodes[i]! } : {}) }));
  }

  /**
   * Chooses `node` for the hint unless another node was chosen meanwhile
   * (`expected` is the choice the caller saw). Returns the node now chosen.
   */
  async assign(pinned: string, expected: string | undefined, node: string): Promise<string> {
    return assignHintNode.run(this.redis, { hintNodes: this.keys.prepullHintNodes() }, { pinned, expected: expected ?? '', node });
  }

  async remove(pinned: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.prepullHints(), pinned).hdel(this.keys.prepullHintNodes(), pinned).exec();
  }
}
