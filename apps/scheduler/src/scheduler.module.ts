import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { JobBus, JobRunner, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger, type Logger } from '@warmpod/observability';
import { connectRedis, NodeRepository, PodRepository, waitForRedis } from '@warmpod/store';
import type { SchedulerConfig } from './config';
import { SchedulePodHandler } from './schedule-pod.handler';

export const CONFIG = Symbol('SchedulerConfig');
const LOGGER = Symbol('Logger');
const REDIS = Symbol('Redis');

/** Starts consuming only once Redis answers; on shutdown closes the worker, then the connections. */
class SchedulerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private runner?: JobRunner<'scheduling'>;
  private readonly bus: JobBus;

  constructor(
    @Inject(CONFIG) private readonly config: SchedulerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.bus = new JobBus(redis, config.prefix);
  }

  async onApplicationBootstrap(): Promise<void> {
    await waitForRedis(this.redis, 30_000);
    const pods = new PodRepository(this.redis, this.config.prefix);
    const nodes = new NodeRepository(this.redis, this.config.prefix);
    this.runner = new JobRunner({
      kind: 'scheduling',
      queueName: SCHEDULING_QUEUE,
      connection: this.redis,
      prefix: this.config.prefix,
      concurrency: this.config.concurrency,
      logger: this.logger,
      handlers: { 'schedule-pod': new SchedulePodHandler(pods, nodes, this.bus, this.config.readyWindowMs, this.logger) },
    });
    this.runner.start();
    this.logger.info({ concurrency: this.config.concurrency }, 'scheduler consuming');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runner?.close();
    await this.bus.close();
    await this.redis.quit().catch(() => undefined);
    this.logger.info('scheduler stopped');
  }
}

@Module({})
export class SchedulerModule {
  static forConfig(config: SchedulerConfig) {
    return {
      module: SchedulerModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: createLogger({ service: 'scheduler', level: config.logLevel }) },
        { provide: REDIS, useFactory: () => connectRedis(config.redisUrl, 'warmpod-scheduler') },
        SchedulerLifecycle,
      ],
    };
  }
}
