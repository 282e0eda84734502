import type { Redis } from 'ioredis';
import { Keys } from './keys';

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
    const pattern = this.keys.pull(node, '*');
    const stem = this.keys.pull(node, '');
    const released: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
      cursor = next;
      for (const key of keys) {
        const digest = key.slice(stem.length);
        const done = (await this.redis.eval(
          ABANDON,
          2,
          key,
          this.keys.pullsInflight(),
          node,
          reason,
          new Date().toISOString(),
          this.keys.pullsChanged(),
          `${node} ${digest}`,
        )) as number;
        if (done === 1) released.push(digest);
      }
    } while (cursor !== '0');
    // Nothing of the node is in flight any more: drop a counter that drifted.
    await this.redis.eval(DROP_NODE_COUNT, 1, this.keys.pullsInflight(), node);
    return released;
  }
}

/** KEYS: status, inflight. ARGV: node, reason, nowIso, channel, message. */
const ABANDON = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'pulling' then return 0 end
redis.call('HINCRBY', KEYS[2], 'total', -1)
redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
redis.call('HSET', KEYS[1], 'state', 'failed', 'reason', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/** KEYS: inflight. ARGV: node. Removes the node's counter when it is zero. */
const DROP_NODE_COUNT = `
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
`;
