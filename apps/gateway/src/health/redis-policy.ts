import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { messageOf, within, type Logger } from '@warmpod/observability';
import { assertNoEviction } from '@warmpod/store';
import { LOGGER, REDIS } from '../providers';

const BOOT_PING_MS = 2_000;

/**
 * The gateway refuses a Redis that may evict keys, as the other services do
 * at boot (an evicted pod record, idempotency key or queued job is lost
 * silently). A Redis that answers at boot is checked then: an evicting one
 * stops the gateway with the reason. One that does not answer yet is checked
 * when the connection becomes ready, as is every reconnection (a failover
 * may land on another server): until it passes, `/readyz` says why not.
 */
@Injectable()
export class RedisPolicy implements OnApplicationBootstrap {
  private refusal?: string = 'not checked yet';

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Why Redis may not be used, or undefined when its policy was checked and is safe. */
  get problem(): string | undefined {
    return this.refusal;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.redis.on('ready', () => void this.check());
    try {
      await within(this.redis.ping(), BOOT_PING_MS, 'ping');
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, 'redis does not answer at boot; its eviction policy is checked once it does');
      return;
    }
    // Throws at boot: the gateway does not start on an evicting Redis.
    await assertNoEviction(this.redis);
    this.refusal = undefined;
  }

  private async check(): Promise<void> {
    try {
      await assertNoEviction(this.redis);
      this.refusal = undefined;
    } catch (error) {
      this.refusal = messageOf(error);
      this.logger.error({ err: this.refusal }, 'redis may evict keys; the gateway reports not ready');
    }
  }
}
