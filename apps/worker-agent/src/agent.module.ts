import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JobRunner, nodeQueueName } from '@warmpod/jobs';
import {
  CheckpointStore,
  CriuKdatCache,
  ImageCache,
  isCriuMode,
  PodNetwork,
  PodRootfs,
  PortExposer,
  ReadinessProbe,
  RuncCheckpointer,
  RuncRuntime,
  WritableLayerArchive,
} from '@warmpod/node-runtime';
import { messageOf, createLogger, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { CapabilitiesMessage, NodeRegistryClient } from '@warmpod/node-registry';
import { CheckpointRepository, connectRedis, NodeRepository, PodRepository, waitForRedis } from '@warmpod/store';
import { AgentHttp } from './agent-http';
import type { AgentConfig } from './config';
import { detectCapabilities, nodePresence } from './node-presence';
import { nodeImages, type NodeImages } from './node-images';
import { nodeJobHandlers } from './pod-jobs';
import { PodCheckpoints } from './pod-checkpoints';
import { PodSandboxes, type NodeRuntime } from './pod-sandbox';
import { podLifecycle, type PodLifecycle } from './pod-lifecycle';

const CONFIG = Symbol('AgentConfig');

/**
 * Wires the node: runtime adapters, pod lifecycle, presence, HTTP, job runner.
 * Jobs are consumed only after the node is clean and registered; shutdown
 * runs in reverse.
 */
class AgentLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly redis;
  private runtime?: NodeRuntime;
  private lifecycle?: PodLifecycle;
  private presence?: NodeRegistryClient;
  private http?: AgentHttp;
  private runner?: JobRunner<'node'>;
  private images?: NodeImages;
  private kdat?: CriuKdatCache;

  constructor(@Inject(CONFIG) private readonly config: AgentConfig) {
    this.logger = createLogger({ service: 'worker-agent', level: config.logLevel, base: { node: config.nodeId } });
    this.redis = connectRedis(config.redisUrl, `warmpod-agent-${config.nodeId}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    // `criu check` and the probe take seconds (more in the VM node): they run while Redis and the runtime come up.
    const capabilities = detectCapabilities({ ...c.criu, workDir: join(c.dataDir, 'criu-probe') }, this.logger);
    capabilities.catch(() => undefined);
    await waitForRedis(this.redis, 30_000);
    await mkdir(c.dataDir, { recursive: true, mode: 0o700 });
    const registry = new RegistryClient({ insecureRegistries: c.insecureRegistries, timeoutMs: c.registryTimeoutMs });
    const rt: NodeRuntime = {
      cache: new ImageCache({ dataDir: join(c.dataDir, 'images'), registry, logger: this.logger }),
      rootfs: new PodRootfs({ logger: this.logger }),
      network: new PodNetwork({
        nodeId: c.nodeId,
        bridge: c.bridge,
        subnet: c.subnet,
        dataDir: join(c.dataDir, 'cni'),
        logger: this.logger,
      }),
      runc: new RuncRuntime(this.runcOptions()),
      ports: new PortExposer({ logger: this.logger, portRange: c.exposePortRange, advertiseHost: c.advertiseHost }),
    };
    this.runtime = rt;
    const pods = new PodRepository(this.redis, c.prefix);
    const nodes = new NodeRepository(this.redis, c.prefix);
    const sandboxes = new PodSandboxes({ rt, dataDir: c.dataDir, exposeHost: c.exposeHost, logger: this.logger });
    const reportChange = (): void => this.presence?.reportChange();
    const caps = await capabilities;
    if (caps.criuOk) {
      // Saves CRIU's kernel-feature detection (a few hundred ms) on every restore where /run is not a tmpfs.
      this.kdat = new CriuKdatCache({ dir: c.dataDir, criuPath: c.criu.path, logger: this.logger });
      await this.kdat.provide();
    }
    const checkpoints = this.checkpointsFor(caps, sandboxes);
    if (checkpoints) {
      const orphans = await checkpoints.sweepOrphans();
      if (orphans > 0) this.logger.warn({ orphans }, 'removed checkpoint files without a live record');
    } else this.logger.warn({ reason: caps.criuReason }, 'this node cannot checkpoint; pods run normally');
    const lifecycle = podLifecycle({
      nodeId: c.nodeId,
      pods,
      nodes,
      cache: rt.cache,
      runc: rt.runc,
      sandboxes,
      checkpoints,
      stopGraceMs: c.stopGraceMs,
      reportChange,
      logger: this.logger,
    });
    this.lifecycle = lifecycle;

    const swept = await lifecycle.stopper.sweepLeftovers();
    if (swept > 0) this.logger.warn({ swept }, 'removed containers left by an earlier agent');

    this.http = new AgentHttp((podId) => sandboxes.logPath(podId));
    const agentUrl = await this.http.listen(c.agentHost, c.agentPort, c.advertiseHost);
    // The scheduler's registry holds the node from here on: registration, inventory, heartbeats.
    this.presence = nodePresence({
      target: c.schedulerGrpcUrl,
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
    await this.presence.start();

    this.images = await nodeImages({
      nodeId: c.nodeId,
      dataDir: c.dataDir,
      prefix: c.prefix,
      budgetBytes: c.imageBudgetBytes,
      redis: this.redis,
      rt,
      nodes,
      registry,
      reportChange,
      logger: this.logger,
    });
    this.runner = new JobRunner({
      kind: 'node',
      queueName: nodeQueueName(c.nodeId),
      connection: this.redis,
      prefix: c.prefix,
      concurrency: c.concurrency,
      logger: this.logger,
      handlers: nodeJobHandlers({ ...lifecycle, puller: this.images.puller, checkpoints, onPodStarted: this.images.onPodStarted }),
    });
    this.runner.start();
    this.logger.info({ agentUrl, capacity: c.capacity }, 'node ready');
  }

  private runcOptions() {
    const c = this.config;
    return { runcRoot: join(c.dataDir, 'runc'), stateDir: join(c.dataDir, 'shim'), cgroupParent: c.cgroupParent, logger: this.logger };
  }

  /** Checkpointing on this node, when CRIU works here; its key carries this runtime's fingerprint. */
  private checkpointsFor(caps: CapabilitiesMessage, sandboxes: PodSandboxes): PodCheckpoints | undefined {
    if (!caps.criuOk || !isCriuMode(caps.criuMode)) return undefined;
    const c = this.config;
    // The checkpointer must see the node's runc root and shim files exactly as the runtime writes them.
    const runtimeOptions = this.runcOptions();
    const fingerprint = {
      arch: caps.arch,
      cpuFlags: caps.cpuFlags,
      kernel: caps.kernel,
      criuVersion: caps.criuVersion,
      criuMode: caps.criuMode,
      runcVersion: caps.runcVersion,
    };
    const tools = {
      // The criu and the mode the capability check measured, for every checkpoint and restore.
      checkpointer: new RuncCheckpointer({ ...runtimeOptions, criuPath: c.criu.path, criuMode: caps.criuMode }),
      archive: new WritableLayerArchive({ logger: this.logger }),
      store: new CheckpointStore({ dataDir: c.dataDir, logger: this.logger }),
      probe: new ReadinessProbe({ runcRoot: runtimeOptions.runcRoot, logger: this.logger }),
    };
    const records = new CheckpointRepository(this.redis, c.prefix, { quarantineAfter: c.checkpointRetention.quarantineAfter });
    return new PodCheckpoints({
      nodeId: c.nodeId,
      runtime: fingerprint,
      records,
      tools,
      sandboxes,
      retention: c.checkpointRetention,
      logger: this.logger,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const c = this.config;
    await this.runner?.close();
    await this.images?.lastUse.flush();
    if (c.stopPodsOnExit) await this.lifecycle?.stopper.stopAll();
    await this.presence?.stop().catch(() => undefined);
    await this.http?.close();
    this.runtime?.ports.closeAll();
    if (c.stopPodsOnExit && this.runtime) {
      const warn = (what: string) => (e: unknown) => this.logger.warn({ err: messageOf(e) }, `${what} removal failed`);
      await this.runtime.network.destroy().catch(warn('bridge'));
      await this.runtime.runc.removeCgroupParent().catch(warn('cgroup parent'));
    }
    await this.kdat?.release();
    await this.redis.quit().catch(() => undefined);
    this.logger.info('node agent stopped');
  }
}

@Module({})
export class AgentModule {
  static forConfig(config: AgentConfig) {
    return { module: AgentModule, providers: [{ provide: CONFIG, useValue: config }, AgentLifecycle] };
  }
}
