import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { abandonPull, dropIdlePullCount } from './scripts/prepull-scripts';

/**
 * Ends the pulls still in flight on a node that will not finish them (lost
 * or gone), so their budget slots come back. Only a pull still queued or
 * pulling is touched, in one step each: a pull that ended meanwhile keeps
 * its outcome, and a slot is never given back twice.
 */
export class AbandonedPulls {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Marks the node's in-flight pulls failed with `reason`; returns their digests. */
  async release(node: string, reason: string): Promise<string[]> {
    const pattern = this.keys.pullsOfNode(node);
    const stem = this.keys.pull(node, '');
    const released: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
      cursor = next;
      for (const key of keys) {
        const digest = key.slice(stem.length);
        const done = await abandonPull.run(
          this.redis,
          { status: key, inflight: this.keys.pullsInflight() },
          { node, reason, nowIso: new Date().toISOString(), channel: this.keys.pullsChanged(), message: `${node} ${digest}` },
        );
        if (done) released.push(digest);
      }
    } while (cursor !== '0');
    // Nothing of the node is in flight any more: drop a counter that drifted.
    await dropIdlePullCount.run(this.redis, { inflight: this.keys.pullsInflight() }, { node });
    return released;
  }
}
