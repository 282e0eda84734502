import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { bullPrefix, JobBus, JobRunner, nodeQueueName } from '@warmpod/jobs';
import { CriuKdatCache, ReadinessProbe } from '@warmpod/node-runtime';
import { ClusterTls, createLogger, identityName, messageOf, reportConnectionErrors, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { NodeRegistryClient } from '@warmpod/node-registry';
import { connectRedis, NodeRepository, NodeReservations, PodRepository, PullRepository, waitForRedis } from '@warmpod/store';
import { AgentHttp } from './agent-http';
import { nodeBlobSources, PeerBlobMetrics, UploadSlots } from './blob-peers/index';
import { AgentMetrics } from './agent-metrics';
import type { AgentConfig } from './config';
import type { CheckpointPusher } from './checkpoint-pusher';
import { nodeCheckpoints, writeNodeCriuConfig } from './node-checkpoints';
import { detectCapabilities, nodePresence } from './node-presence';
import { nodeImages, type NodeImages } from './node-images';
import { createNodeRuntime, runcOptions, sweepNode } from './node-sweep';
import { nodeJobHandlers } from './pod-jobs';
import { PodSandboxes, type NodeRuntime } from './pod-sandbox';
import { podLifecycle, type PodLifecycle } from './pod-lifecycle';

const CONFIG = Symbol('AgentConfig');
const STARTUP = Symbol('AgentStartup');
const LEAVE = Symbol('AgentLeave');

/** Asks the process to leave the cluster (what SIGUSR2 does): `AgentLifecycle.leave()`, then a clean shutdown. */
export type LeaveRequest = () => void;

/** Start-up was cancelled (SIGTERM or SIGINT while the agent started); what it had set up is cleaned up. */
export class StartupCancelled extends Error {
  override readonly name = 'StartupCancelled';
}

/**
 * Wires the node: runtime adapters, pod lifecycle, presence, HTTP, job runner.
 * At start the agent first reconciles what runs on the node with the store
 * (PodAdopter: an agent restart loses no pod), then registers, then consumes
 * jobs; shutdown runs in reverse. Start-up is abortable: a signal during it
 * (`startup`) stops the long waits, and a start-up that fails or is cancelled
 * runs the same cleanup as a shutdown.
 */
export class AgentLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly redis;
  private readonly metrics: AgentMetrics;
  private runtime?: NodeRuntime;
  private sandboxes?: PodSandboxes;
  private lifecycle?: PodLifecycle;
  private presence?: NodeRegistryClient;
  private http?: AgentHttp;
  private tls?: ClusterTls;
  private runner?: JobRunner<'node'>;
  private queue?: Queue;
  private images?: NodeImages;
  private kdat?: CriuKdatCache;
  private bus?: JobBus;
  private nodes?: NodeRepository;
  private pusher?: CheckpointPusher | undefined;
  private started = false;
  private leaving?: Promise<void>;
  /** The node left the cluster: everything of it goes at shutdown, whatever STOP_PODS_ON_EXIT says. */
  private left = false;
  private cleanedUp?: Promise<void>;

  constructor(
    @Inject(CONFIG) private readonly config: AgentConfig,
    @Inject(STARTUP) private readonly startup: AbortSignal,
    @Inject(LEAVE) private readonly requestLeave: LeaveRequest,
  ) {
    this.logger = createLogger({ service: 'worker-agent', level: config.logLevel, base: { node: config.nodeId } });
    this.metrics = new AgentMetrics({ metrics: config.observability.metrics });
    this.redis = reportConnectionErrors(
      connectRedis(config.redisUrl, `warmpod-agent-${config.nodeId}`, 'worker', { tlsCaFile: config.redisTlsCaFile }),
      this.logger,
      'agent',
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.boot();
    } catch (error) {
      const cancelled = this.startup.aborted;
      this.logger.warn({ err: messageOf(error) }, cancelled ? 'start-up cancelled; cleaning up' : 'start-up failed; cleaning up');
      await this.cleanup();
      throw cancelled ? new StartupCancelled(`start-up cancelled: ${messageOf(error)}`) : error;
    }
  }

  /** `work`, unless start-up is cancelled first. */
  private step<T>(work: Promise<T>): Promise<T> {
    const signal = this.startup;
    signal.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async boot(): Promise<void> {
    const c = this.config;
    // `criu check` and the probe take seconds (more on a slow machine): they run while Redis and the runtime come up.
    const capabilities = detectCapabilities({ ...c.criu, workDir: join(c.dataDir, 'criu-probe') }, this.logger);
    capabilities.catch(() => undefined);
    this.tls = await this.step(ClusterTls.load(c.tls, { reloadMs: c.tls.reloadMs, logger: this.logger }));
    const identity = this.tls.current.identity;
    if (identity?.kind !== 'node' || identity.name !== c.nodeId) {
      throw new Error(`${c.tls.certFile} names ${identity ? identityName(identity) : 'no cluster identity'}, not node:${c.nodeId}`);
    }
    await this.step(waitForRedis(this.redis, 30_000));
    await this.step(mkdir(c.dataDir, { recursive: true, mode: 0o700 }));
    const registry = new RegistryClient({ insecureRegistries: c.insecureRegistries, timeoutMs: c.registryTimeoutMs });
    const pods = new PodRepository(this.redis, c.prefix, { events: c.observability.events });
    const nodes = new NodeRepository(this.redis, c.prefix);
    this.nodes = nodes;
    const peerBlobs = new PeerBlobMetrics(this.metrics.metrics, this.logger);
    const pullRecords = new PullRepository(this.redis, c.prefix);
    const blobSource = nodeBlobSources({
      nodeId: c.nodeId,
      registry,
      peers: c.peerBlobs,
      tls: this.tls,
      nodes,
      pulls: pullRecords,
      events: peerBlobs,
    });
    const rt = createNodeRuntime(c, registry, this.logger, blobSource);
    this.runtime = rt;
    const bus = new JobBus(this.redis, c.prefix);
    this.bus = bus;
    const reportChange = (): void => this.presence?.reportChange();
    // Image pulls and evictions change the images alone: their reports do not list the containers.
    const reportImagesChange = (): void => this.presence?.reportChange('images');
    const caps = await this.step(capabilities);
    let criuConfigPath: string | undefined;
    if (caps.criuOk) {
      // Saves CRIU's kernel-feature detection (a few hundred ms) on every restore where /run is not a tmpfs.
      this.kdat = new CriuKdatCache({ dir: c.dataDir, criuPath: c.criu.path, logger: this.logger });
      await this.step(this.kdat.provide());
      // The measured network lock, for runc to hand CRIU on every checkpoint and restore of the pods made from now on.
      criuConfigPath = await this.step(writeNodeCriuConfig(caps, c.dataDir));
    }
    const sandboxes = new PodSandboxes({ rt, dataDir: c.dataDir, exposeHost: c.exposeHost, logger: this.logger, criuConfigPath });
    this.sandboxes = sandboxes;
    const nodeCkpts = nodeCheckpoints({
      config: c,
      caps,
      sandboxes,
      registry,
      redis: this.redis,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.pusher = nodeCkpts?.pusher;
    const checkpoints = nodeCkpts?.checkpoints;
    if (checkpoints) {
      const orphans = await this.step(checkpoints.sweepOrphans());
      if (orphans > 0) this.logger.warn({ orphans }, 'removed checkpoint files without a live record');
    } else this.logger.warn({ reason: caps.criuReason }, 'this node cannot checkpoint; pods run normally');
    const lifecycle = podLifecycle({
      nodeId: c.nodeId,
      pods,
      nodes,
      reservations: new NodeReservations(this.redis, c.prefix),
      cache: rt.cache,
      runc: rt.runc,
      sandboxes,
      probe: new ReadinessProbe({ runcRoot: runcOptions(c, this.logger).runcRoot, logger: this.logger }),
      checkpoints,
      stopGraceMs: c.stopGraceMs,
      reschedule: (podId, generation) =>
        bus.toScheduler({ name: 'schedule-pod', data: { podId, requestId: `drain-${podId}-${generation}`, generation } }),
      reportChange,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.lifecycle = lifecycle;

    // Before registering: the first inventory lists only pods the store says run here, so the scheduler stops none.
    await this.step(lifecycle.adopter.adoptAll());

    this.http = new AgentHttp(
      (podId) => sandboxes.logPath(podId),
      {
        registered: () => this.started && this.presence?.sessionId !== undefined,
        redis: async () => (await this.redis.ping()) === 'PONG',
        jobs: () => this.runner?.running ?? false,
      },
      undefined,
      this.metrics.metrics,
      this.tls,
      {
        held: (digest) => rt.cache.heldBlob(digest),
        served: (bytes, outcome) => peerBlobs.served(bytes, outcome),
        slots: new UploadSlots(c.peerServeConcurrency),
      },
    );
    const agentUrl = await this.step(this.http.listen(c.agentHost, c.agentPort, c.advertiseHost));
    // The scheduler's registry holds the node from here on: registration, inventory, heartbeats.
    this.presence = nodePresence({
      target: c.schedulerGrpcUrl,
      tls: this.tls,
      registration: {
        nodeId: c.nodeId,
        labels: c.labels,
        capacity: { cpu: c.capacity.cpu, memoryMib: c.capacity.memoryMiB, gpu: c.capacity.gpu },
        gpus: c.capacity.gpu > 0 ? [{ model: c.gpuModel, count: c.capacity.gpu }] : [],
        capabilities: caps,
        agentUrl,
      },
      cache: rt.cache,
      runc: rt.runc,
      checkpoints: () => checkpoints?.inventory() ?? Promise.resolve([]),
      discard: (podIds, reason) => lifecycle.stopper.discard(podIds, reason),
      logger: this.logger,
    });
    await this.step(this.presence.start());

    this.images = await this.step(
      nodeImages({
        nodeId: c.nodeId,
        dataDir: c.dataDir,
        prefix: c.prefix,
        budgetBytes: c.imageBudgetBytes,
        redis: this.redis,
        rt,
        nodes,
        registry,
        reportImagesChange,
        logger: this.logger,
        metrics: this.metrics,
      }),
    );
    this.startup.throwIfAborted();
    this.runner = new JobRunner({
      kind: 'node',
      queueName: nodeQueueName(c.nodeId),
      connection: this.redis,
      prefix: c.prefix,
      concurrency: c.concurrency,
      logger: this.logger,
      handlers: nodeJobHandlers({
        ...lifecycle,
        puller: this.images.puller,
        checkpoints,
        onPodStarted: this.images.onPodStarted,
        onDrain: this.requestLeave,
      }),
      metrics: this.metrics.jobs,
    });
    this.queue = new Queue(nodeQueueName(c.nodeId), { connection: this.redis, prefix: bullPrefix(c.prefix) });
    this.metrics.jobs.watch('node', this.queue);
    this.runner.start();
    this.started = true;
    // Checkpoints whose push failed (or that an earlier run never pushed) travel from now on.
    this.pusher?.start();
    this.logger.info({ agentUrl, capacity: c.capacity }, 'node ready');
    // A drain this node's previous agent did not finish (it died leaving) is finished now.
    if ((await nodes.get(c.nodeId))?.drainingAt) this.requestLeave();
  }

  /**
   * Leaves the cluster (a drain through the API, or SIGUSR2): the node takes
   * no new pods (its drain mark, which reservations refuse), its pods are
   * moved elsewhere or stopped by their restart policy, the job runner
   * stops and the node's queue is removed, and the node deregisters, so it
   * is gone rather than lost. A plain SIGTERM never does this: it is a
   * restart (an upgrade), and the next agent adopts the pods. Runs once.
   */
  leave(): Promise<void> {
    this.leaving ??= this.leaveOnce();
    return this.leaving;
  }

  private async leaveOnce(): Promise<void> {
    const { nodeId } = this.config;
    if (!this.started || !this.lifecycle || !this.presence || !this.nodes) throw new Error('the agent has not started');
    await this.nodes.startDrain(nodeId);
    this.logger.warn('node draining: moving or stopping its pods, then leaving the cluster');
    await this.lifecycle.drainer.drain();
    // Jobs still queued here (starts of pods just moved) have nothing left to do: the queue goes with the node.
    await this.runner?.close();
    await this.lifecycle.drainer.drain();
    await this.queue?.obliterate({ force: true });
    await this.presence.leave();
    this.left = true;
    this.logger.warn('node deregistered: it left the cluster');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cleanup();
  }

  /** Shutdown, and a start-up that failed or was cancelled: whatever was set up goes, in reverse. Runs once. */
  private cleanup(): Promise<void> {
    this.cleanedUp ??= this.cleanupOnce();
    return this.cleanedUp;
  }

  private async cleanupOnce(): Promise<void> {
    const c = this.config;
    const warn = (what: string) => (e: unknown) => this.logger.warn({ err: messageOf(e) }, `${what} failed`);
    await this.runner?.close().catch(warn('closing the job runner'));
    await this.pusher?.stop().catch(warn('stopping checkpoint pushes'));
    await this.queue?.close().catch(warn('closing the queue'));
    await this.images?.lastUse.flush().catch(warn('recording image use'));
    const removeAll = c.stopPodsOnExit || this.left;
    if (removeAll) await this.lifecycle?.stopper.stopAll().catch(warn('stopping pods'));
    await this.presence?.stop().catch(() => undefined);
    await this.http?.close();
    this.tls?.close();
    await this.runtime?.ports.closeAll();
    await this.bus?.close().catch(warn('closing the job bus'));
    if (removeAll && this.runtime && this.sandboxes) {
      // Local nodes leave nothing: what stopAll did not reach (a start cancelled midway, leftovers) goes too.
      const failures = await sweepNode(this.runtime, this.sandboxes);
      if (failures.length > 0) this.logger.warn({ failures }, 'node sweep incomplete');
    }
    await this.kdat?.release().catch(warn('releasing the CRIU kdat cache'));
    await this.redis.quit().catch(() => this.redis.disconnect());
    this.logger.info('node agent stopped');
  }
}

@Module({})
export class AgentModule {
  /** `startup` aborted while the agent starts cancels its start-up (which then cleans up); `requestLeave` is what a drain job calls. */
  static forConfig(config: AgentConfig, startup: AbortSignal = new AbortController().signal, requestLeave: LeaveRequest = () => undefined) {
    return {
      module: AgentModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: STARTUP, useValue: startup },
        { provide: LEAVE, useValue: requestLeave },
        AgentLifecycle,
      ],
    };
  }
}
