import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '@warmpod/observability';
import type { GatewayConfig } from '../config';
import { CONFIG, LOGGER, REDIS } from '../providers';

/** The gateway's own script (not the store's): read once, at start. */
export const TOKEN_BUCKET_LUA = join(__dirname, '..', '..', 'lua', 'token-bucket.lua');

const replySchema = z.tuple([z.number().int().min(0).max(1), z.number().int().min(0)]);

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * A token bucket per bearer token, in Redis, so every replica counts the same
 * requests. Keyed by the token's non-secret id, never by the token.
 */
@Injectable()
export class RateLimiter {
  private readonly script = readFileSync(TOKEN_BUCKET_LUA, 'utf8');
  private readonly sha = createHash('sha1').update(this.script).digest('hex');

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.config.rateLimit.perSecond > 0;
  }

  async take(tokenId: string): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true };
    const { perSecond, burst } = this.config.rateLimit;
    const args = [1, `${this.config.prefix}ratelimit:${tokenId}`, String(perSecond), String(burst)] as const;
    let reply: unknown;
    try {
      try {
        reply = await this.redis.evalsha(this.sha, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        reply = await this.redis.eval(this.script, ...args);
      }
    } catch (error) {
      // A limit that cannot be counted does not refuse work; the request itself will meet the outage.
      this.logger.warn({ tokenId, err: error instanceof Error ? error.message : String(error) }, 'rate limit not checked');
      return { allowed: true };
    }
    const [allowed, retryAfterMs] = replySchema.parse(reply);
    return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs };
  }
}
