import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createLogger } from '@warmpod/observability';
import { connectRedis, waitForRedis } from '@warmpod/store';
import type { PrepullerConfig } from './config';

const CONFIG = Symbol('PrepullerConfig');

/**
 * The prepuller's shell: it boots, validates its config and holds its Redis
 * connection. Pins, pull budgets and rotation arrive with the pins issue;
 * until then nodes pull on first use (see ARCHITECTURE.md).
 */
class PrepullerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger;
  private readonly redis;

  constructor(@Inject(CONFIG) config: PrepullerConfig) {
    this.logger = createLogger({ service: 'prepuller', level: config.logLevel });
    this.redis = connectRedis(config.redisUrl, 'warmpod-prepuller');
  }

  async onApplicationBootstrap(): Promise<void> {
    await waitForRedis(this.redis, 30_000);
    this.logger.info('prepuller up (no pins to warm yet)');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}

@Module({})
export class PrepullerModule {
  static forConfig(config: PrepullerConfig) {
    return { module: PrepullerModule, providers: [{ provide: CONFIG, useValue: config }, PrepullerLifecycle] };
  }
}
