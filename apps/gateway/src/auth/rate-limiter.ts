import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { RateBuckets, type RateDecision } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG, LOGGER, REDIS } from '../providers';

export type { RateDecision };

/**
 * The per-token request limit: a bucket per bearer token in Redis (the
 * store's), shared by every replica, keyed by the token's non-secret id.
 */
@Injectable()
export class RateLimiter {
  private readonly buckets: RateBuckets;

  constructor(
    @Inject(REDIS) redis: Redis,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.buckets = new RateBuckets(redis, config.prefix);
  }

  get enabled(): boolean {
    return this.config.rateLimit.perSecond > 0;
  }

  async take(tokenId: string): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true };
    const { perSecond, burst } = this.config.rateLimit;
    try {
      return await this.buckets.take(tokenId, perSecond, burst);
    } catch (error) {
      // A limit that cannot be counted does not refuse work; the request itself will meet the outage.
      this.logger.warn({ tokenId, err: messageOf(error) }, 'rate limit not checked');
      return { allowed: true };
    }
  }
}
