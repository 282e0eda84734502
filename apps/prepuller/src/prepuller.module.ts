import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { JobBus } from '@warmpod/jobs';
import { createLogger, reportConnectionErrors, ServiceHttpProvider, ServiceMetrics, type Logger } from '@warmpod/observability';
import {
  AbandonedPulls,
  connectRedis,
  ImageRepository,
  NodeRepository,
  PinRepository,
  PodImageUsage,
  PrepullHintBook,
  ProtectedDigests,
  PullRepository,
  waitForRedis,
} from '@warmpod/store';
import type { PrepullerConfig } from './config';
import { connectDaemonSetApi } from './kubernetes/daemonset-api';
import { KubernetesPrepullDriver } from './kubernetes/daemonset-driver';
import { BusPullDispatcher } from './pull-dispatcher';
import { PrepullLoop } from './prepull-loop';
import { PrepullReconciler } from './prepull-reconciler';
import { RegistryRateLimiter } from './registry-rate';

const CONFIG = Symbol('PrepullerConfig');
const LOGGER = Symbol('Logger');
const REDIS = Symbol('Redis');

/** Starts reconciling only once Redis answers; on shutdown stops the loop, then the bus, then the connection. */
class PrepullerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly bus: JobBus;
  private loop?: PrepullLoop;
  private kubernetes?: KubernetesPrepullDriver;

  constructor(
    @Inject(CONFIG) private readonly config: PrepullerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.bus = new JobBus(redis, config.prefix);
  }

  async onApplicationBootstrap(): Promise<void> {
    await waitForRedis(this.redis, 30_000);
    const { prefix, budget, readyWindowMs, retryAfterMs, hintTtlMs, spread } = this.config;
    const nodes = new NodeRepository(this.redis, prefix);
    const reconciler = new PrepullReconciler(
      {
        pins: new PinRepository(this.redis, prefix, { events: this.config.observability.events }),
        nodes,
        pulls: new PullRepository(this.redis, prefix),
        images: new ImageRepository(this.redis, prefix),
        hints: new PrepullHintBook(this.redis, prefix),
        protectedDigests: new ProtectedDigests(this.redis, prefix),
        usage: new PodImageUsage(this.redis, prefix),
        abandoned: new AbandonedPulls(this.redis, prefix),
        dispatcher: new BusPullDispatcher(this.bus),
        limiter: new RegistryRateLimiter(this.config.registryRatePerSecond),
      },
      { budget, readyWindowMs, retryAfterMs, hintTtlMs, ...(spread ? { spread } : {}) },
      this.logger,
    );
    const { debounceMs, resyncMs } = this.config;
    this.loop = new PrepullLoop(
      this.redis,
      prefix,
      reconciler,
      nodes,
      { debounceMs, resyncMs, readyWindowMs, errorRetryMs: 1_000 },
      this.logger,
    );
    if (this.config.kubernetes) {
      // Off by default: also warm the kubelet caches, one DaemonSet per pinned digest.
      const api = await connectDaemonSetApi((kc) => kc.loadFromDefault());
      const driver = new KubernetesPrepullDriver(
        api,
        new PinRepository(this.redis, prefix, { events: this.config.observability.events }),
        this.config.kubernetes,
        this.logger,
      );
      this.kubernetes = driver;
      this.loop.onPass(() => driver.request());
    }
    await this.loop.start();
    this.logger.info(
      { budget, registryRate: this.config.registryRatePerSecond, retryAfterMs, kubernetes: Boolean(this.config.kubernetes) },
      'prepuller reconciling',
    );
  }

  /** Reconciling: what readiness asks besides Redis. */
  get reconciling(): boolean {
    return this.loop !== undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop?.stop();
    await this.kubernetes?.stop();
    await this.bus.close();
    await this.redis.quit().catch(() => undefined);
    this.logger.info('prepuller stopped');
  }
}

@Module({})
export class PrepullerModule {
  static forConfig(config: PrepullerConfig) {
    return {
      module: PrepullerModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: createLogger({ service: 'prepuller', level: config.logLevel }) },
        {
          provide: REDIS,
          useFactory: (logger: Logger) =>
            reportConnectionErrors(
              connectRedis(config.redisUrl, 'warmpod-prepuller', 'worker', { tlsCaFile: config.redisTlsCaFile }),
              logger,
              'prepuller',
            ),
          inject: [LOGGER],
        },
        PrepullerLifecycle,
        {
          // `/metrics` (process metrics), `/healthz`, `/readyz`: ready while Redis answers and the loop runs.
          provide: ServiceHttpProvider,
          useFactory: (redis: Redis, lifecycle: PrepullerLifecycle) =>
            new ServiceHttpProvider(
              new ServiceMetrics('prepuller', { enabled: config.observability.metrics }),
              { redis: async () => (await redis.ping()) === 'PONG', reconciling: () => lifecycle.reconciling },
              { host: config.httpHost, port: config.httpPort },
            ),
          inject: [REDIS, PrepullerLifecycle],
        },
      ],
    };
  }
}
