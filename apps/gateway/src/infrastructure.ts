import { Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { JobBus } from '@warmpod/jobs';
import { settledWithin, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import { connectRedis, ImageRepository, NodeRepository, PodBacklog, PodRepository, TenantQuotas } from '@warmpod/store';
import { TokenTable } from './auth/tokens';
import type { GatewayConfig } from './config';
import { CONFIG, LOGGER, REDIS } from './providers';

/** Seams for tests: a different registry client or job bus, built on the same connection. */
export interface InfrastructureOverrides {
  registry?: RegistryClient;
  jobBus?: (redis: Redis, prefix: string) => JobBus;
}

/** Everything with a side effect, built from the config. */
export function infrastructureProviders(config: GatewayConfig, logger: Logger, overrides: InfrastructureOverrides): Provider[] {
  return [
    { provide: CONFIG, useValue: config },
    { provide: LOGGER, useValue: logger },
    {
      provide: REDIS,
      useFactory: (): Redis => {
        const redis = connectRedis(config.redisUrl, 'gateway', 'producer', { tlsCaFile: config.redisTlsCaFile });
        // ioredis reconnects by itself; without a listener it would print to stderr.
        redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error'));
        return redis;
      },
    },
    {
      provide: RegistryClient,
      useFactory: () =>
        overrides.registry ?? new RegistryClient({ insecureRegistries: config.insecureRegistries, timeoutMs: config.registryTimeoutMs }),
    },
    {
      provide: JobBus,
      useFactory: (redis: Redis) => (overrides.jobBus ?? ((r, p) => new JobBus(r, p)))(redis, config.prefix),
      inject: [REDIS],
    },
    {
      provide: PodRepository,
      useFactory: (redis: Redis) => new PodRepository(redis, config.prefix, { events: config.observability.events }),
      inject: [REDIS],
    },
    { provide: PodBacklog, useFactory: (redis: Redis) => new PodBacklog(redis, config.prefix), inject: [REDIS] },
    { provide: NodeRepository, useFactory: (redis: Redis) => new NodeRepository(redis, config.prefix), inject: [REDIS] },
    { provide: ImageRepository, useFactory: (redis: Redis) => new ImageRepository(redis, config.prefix), inject: [REDIS] },
    { provide: TenantQuotas, useFactory: (redis: Redis) => new TenantQuotas(redis, config.prefix), inject: [REDIS] },
    { provide: TokenTable, useFactory: () => new TokenTable(config.tokens) },
    ConnectionCloser,
  ];
}

const CLOSE_TIMEOUT_MS = 3_000;

/**
 * Nest closes the HTTP server before shutdown hooks run, so the order is
 * HTTP, then queues, then Redis. Each step is bounded: a Redis that is gone
 * must not keep the process from exiting.
 */
@Injectable()
export class ConnectionCloser implements OnApplicationShutdown {
  constructor(
    private readonly jobs: JobBus,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (!(await settledWithin(this.jobs.close(), CLOSE_TIMEOUT_MS))) this.logger.warn('queues did not close in time');
    // QUIT lets pending replies arrive; with no live connection there is nothing to wait for.
    if (this.redis.status !== 'ready' || !(await settledWithin(this.redis.quit(), CLOSE_TIMEOUT_MS))) this.redis.disconnect();
    this.logger.info('gateway stopped');
  }
}
