import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { takeRateToken } from './scripts/rate-scripts';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * A token bucket per caller in Redis, so every gateway replica counts the
 * same requests. Callers are named by a non-secret id, never by a token.
 */
export class RateBuckets {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** One request of `callerId` against a bucket of `burst` refilled at `perSecond` (> 0). */
  async take(callerId: string, perSecond: number, burst: number): Promise<RateDecision> {
    const [allowed, retryAfterMs] = await takeRateToken.run(this.redis, { bucket: this.keys.rateBucket(callerId) }, { perSecond, burst });
    return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs };
  }
}
