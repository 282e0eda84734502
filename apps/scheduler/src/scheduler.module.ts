import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { bullPrefix, JobBus, JobRunner, SCHEDULING_QUEUE } from '@warmpod/jobs';
import type { NodeRegistryServer } from '@warmpod/node-registry';
import { ClusterTls, createLogger, reportConnectionErrors, ServiceHttpProvider, type Logger } from '@warmpod/observability';
import {
  connectRedis,
  CheckpointRepository,
  ImageRepository,
  NodeLiveness,
  NodeRepository,
  NodeReservations,
  PodRepository,
  PrepullHints,
  waitForRedis,
} from '@warmpod/store';
import { PlacementView } from './placement-view';
import { Backlog } from './backlog';
import { NodeMonitor } from './node-monitor';
import type { SchedulerConfig } from './config';
import { startNodeRegistry } from './registry/node-registry';
import { checkpointPolicy, SchedulePodHandler } from './schedule-pod.handler';
import type { PoolController } from './pools/pool-controller';
import { startPoolController } from './pools/start-pool-controller';
import { SchedulerMetrics } from './scheduler-metrics';

export const CONFIG = Symbol('SchedulerConfig');
const LOGGER = Symbol('Logger');
const REDIS = Symbol('Redis');
const METRICS = Symbol('SchedulerMetrics');
/** The gRPC handshake of the registry check gives up before the check's own 1 s limit. */
const GRPC_CHECK_MS = 800;

/** Starts consuming only once Redis answers; on shutdown closes the worker, then the connections. */
class SchedulerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private runner?: JobRunner<'scheduling'>;
  private registry?: NodeRegistryServer;
  private tls?: ClusterTls;
  private readonly bus: JobBus;
  private backlog?: Backlog;
  private monitor?: NodeMonitor;
  private view?: PlacementView;
  private schedulingQueue?: Queue;
  private pools?: PoolController;
  private registryRedis?: Redis;
  private placementRedis?: Redis;

  constructor(
    @Inject(CONFIG) private readonly config: SchedulerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) private readonly metrics: SchedulerMetrics,
  ) {
    this.bus = new JobBus(redis, config.prefix);
  }

  /** What readiness asks: the node registry answers a gRPC handshake and the scheduling queue is consumed. */
  get serving(): { registry: (timeoutMs: number) => Promise<boolean>; jobs: boolean } {
    const registry = this.registry;
    return { registry: (ms) => registry?.answers(ms) ?? Promise.resolve(false), jobs: this.runner?.running ?? false };
  }

  async onApplicationBootstrap(): Promise<void> {
    await waitForRedis(this.redis, 30_000);
    // Agents' reports (whole inventories at times) on a connection of their own, off the placement path.
    this.registryRedis = reportConnectionErrors(
      connectRedis(this.config.redisUrl, 'warmpod-scheduler-registry', 'worker', { tlsCaFile: this.config.redisTlsCaFile }),
      this.logger,
      'registry',
    );
    this.tls = await ClusterTls.load(this.config.tls, { reloadMs: this.config.tls.reloadMs, logger: this.logger });
    this.registry = await startNodeRegistry(this.config, this.registryRedis, this.logger, {
      tls: this.tls,
      onRefused: (reason) => this.metrics.registryRefused(reason),
    });
    const { prefix, readyWindowMs } = this.config;
    // WARMPOD_EVENTS=off: the pod, pool and checkpoint writes here append no events.
    const events = { events: this.config.observability.events };
    // The handler's reads and scripts: many small commands at once, so they are auto-pipelined.
    this.placementRedis = reportConnectionErrors(
      connectRedis(this.config.redisUrl, 'warmpod-scheduler-placement', 'worker', {
        autoPipelining: true,
        tlsCaFile: this.config.redisTlsCaFile,
      }),
      this.logger,
      'placement',
    );
    const pods = new PodRepository(this.placementRedis, prefix, events);
    const nodes = new NodeRepository(this.placementRedis, prefix);
    const reservations = new NodeReservations(this.placementRedis, prefix);
    this.schedulingQueue = new Queue(SCHEDULING_QUEUE, { connection: this.redis, prefix: bullPrefix(prefix) });
    this.metrics.jobs.watch('scheduling', this.schedulingQueue);
    this.metrics.watchNodes(nodes, readyWindowMs);
    this.backlog = new Backlog(this.redis, this.schedulingQueue, prefix, this.logger);
    await this.backlog.start();
    this.view = new PlacementView(this.redis, reservations, prefix, readyWindowMs, this.logger);
    const backlog = this.backlog;
    this.view.onNodeGainedRoom(() => backlog.nodeGainedRoom());
    await this.view.start();
    // Warm pools live here: see pools/pool-controller.ts for why.
    this.pools = await startPoolController(this.redis, { prefix, ...events }, this.view, this.bus, this.logger);
    this.monitor = new NodeMonitor(
      nodes,
      reservations,
      new NodeLiveness(this.redis, prefix),
      pods,
      this.bus,
      readyWindowMs,
      this.logger,
      (id) => this.view?.noteLost(id),
    );
    this.monitor.start(Math.max(250, Math.floor(readyWindowMs / 3)));
    const ports = {
      pods,
      reservations,
      bus: this.bus,
      backlog: this.backlog,
      hints: new PrepullHints(this.placementRedis, prefix),
      view: this.view,
      images: new ImageRepository(this.placementRedis, prefix),
      checkpoints: new CheckpointRepository(this.placementRedis, prefix, events),
    };
    this.runner = new JobRunner({
      kind: 'scheduling',
      queueName: SCHEDULING_QUEUE,
      connection: this.redis,
      prefix: this.config.prefix,
      concurrency: this.config.concurrency,
      logger: this.logger,
      handlers: {
        'schedule-pod': new SchedulePodHandler(ports, this.logger, checkpointPolicy(this.config.checkpointOffTenants), this.metrics),
      },
      metrics: this.metrics.jobs,
    });
    this.runner.start();
    this.logger.info({ concurrency: this.config.concurrency }, 'scheduler consuming');
  }

  async onApplicationShutdown(): Promise<void> {
    // Agents first: their streams end and they reconnect to whichever scheduler serves next.
    await this.registry?.close();
    this.tls?.close();
    await this.runner?.close();
    await this.monitor?.stop();
    await this.backlog?.stop();
    await this.pools?.stop();
    await this.view?.stop();
    await this.schedulingQueue?.close();
    await this.bus.close();
    await this.placementRedis?.quit().catch(() => undefined);
    await this.registryRedis?.quit().catch(() => undefined);
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
        {
          provide: REDIS,
          useFactory: (logger: Logger) =>
            reportConnectionErrors(
              connectRedis(config.redisUrl, 'warmpod-scheduler', 'worker', { tlsCaFile: config.redisTlsCaFile }),
              logger,
              'scheduler',
            ),
          inject: [LOGGER],
        },
        { provide: METRICS, useValue: new SchedulerMetrics({ metrics: config.observability.metrics }) },
        SchedulerLifecycle,
        {
          // `/metrics`, `/healthz`, `/readyz`: ready while Redis answers, the registry serves and the queue is consumed.
          provide: ServiceHttpProvider,
          useFactory: (redis: Redis, metrics: SchedulerMetrics, lifecycle: SchedulerLifecycle) =>
            new ServiceHttpProvider(
              metrics.metrics,
              {
                redis: async () => (await redis.ping()) === 'PONG',
                registry: () => lifecycle.serving.registry(GRPC_CHECK_MS),
                jobs: () => lifecycle.serving.jobs,
              },
              { host: config.httpHost, port: config.httpPort },
            ),
          inject: [REDIS, METRICS, SchedulerLifecycle],
        },
      ],
    };
  }
}
