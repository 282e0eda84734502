import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JobRunner, nodeQueueName } from '@warmpod/jobs';
import { ImageCache, PodNetwork, PodRootfs, PortExposer, RuncRuntime } from '@warmpod/node-runtime';
import { createLogger, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { NodeRegistryClient } from '@warmpod/node-registry';
import { connectRedis, NodeRepository, PodRepository, waitForRedis } from '@warmpod/store';
import { AgentHttp } from './agent-http';
import type { AgentConfig } from './config';
import { detectCapabilities, discardContainers, nodePresence } from './node-presence';
import { nodeImages, type NodeImages } from './node-images';
import { nodeJobHandlers } from './pod-jobs';
import { PodLocks } from './pod-locks';
import { PodSandboxes, type NodeRuntime } from './pod-sandbox';
import { PodSupervisor } from './pod-supervisor';

const CONFIG = Symbol('AgentConfig');

/**
 * Wires the node: runtime adapters, supervisor, presence, HTTP, job runner.
 * Jobs are consumed only after the node is clean and registered; shutdown
 * runs in reverse.
 */
class AgentLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly redis;
  private runtime?: NodeRuntime;
  private supervisor?: PodSupervisor;
  private presence?: NodeRegistryClient;
  private http?: AgentHttp;
  private runner?: JobRunner<'node'>;
  private images?: NodeImages;

  constructor(@Inject(CONFIG) private readonly config: AgentConfig) {
    this.logger = createLogger({ service: 'worker-agent', level: config.logLevel, base: { node: config.nodeId } });
    this.redis = connectRedis(config.redisUrl, `warmpod-agent-${config.nodeId}`);
  }

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    await waitForRedis(this.redis, 30_000);
    await mkdir(c.dataDir, { recursive: true, mode: 0o700 });
    const registry = new RegistryClient({ insecureRegistries: c.insecureRegistries, timeoutMs: c.registryTimeoutMs });
    const rt: NodeRuntime = {
      cache: new ImageCache({ dataDir: join(c.dataDir, 'images'), registry, logger: this.logger }),
      rootfs: new PodRootfs({ logger: this.logger }),
      network: new PodNetwork({ nodeId: c.nodeId, bridge: c.bridge, subnet: c.subnet, dataDir: join(c.dataDir, 'cni'), logger: this.logger }),
      runc: new RuncRuntime({ runcRoot: join(c.dataDir, 'runc'), stateDir: join(c.dataDir, 'shim'), cgroupParent: c.cgroupParent, logger: this.logger }),
      ports: new PortExposer({ logger: this.logger }),
    };
    this.runtime = rt;
    const pods = new PodRepository(this.redis, c.prefix);
    const nodes = new NodeRepository(this.redis, c.prefix);
    const sandboxes = new PodSandboxes(rt, c.dataDir, c.exposeHost, this.logger);
    const locks = new PodLocks();
    const reportChange = (): void => this.presence?.reportChange();
    this.supervisor = new PodSupervisor(c.nodeId, pods, nodes, rt, sandboxes, locks, c.stopGraceMs, this.logger, reportChange);

    const swept = await this.supervisor.sweepLeftovers();
    if (swept > 0) this.logger.warn({ swept }, 'removed containers left by an earlier agent');

    this.http = new AgentHttp((podId) => sandboxes.logPath(podId));
    const agentUrl = await this.http.listen(c.agentHost, c.agentPort);
    // The scheduler's registry holds the node from here on: registration, inventory, heartbeats.
    this.presence = nodePresence({
      target: c.schedulerGrpcUrl,
      registration: {
        nodeId: c.nodeId,
        labels: c.labels,
        capacity: { cpu: c.capacity.cpu, memoryMib: c.capacity.memoryMiB, gpu: c.capacity.gpu },
        gpus: c.capacity.gpu > 0 ? [{ model: c.gpuModel, count: c.capacity.gpu }] : [],
        capabilities: await detectCapabilities(),
        agentUrl,
      },
      cache: rt.cache,
      runc: rt.runc,
      discard: discardContainers(rt.runc, sandboxes, locks, c.stopGraceMs, this.logger),
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
      handlers: nodeJobHandlers(this.supervisor, this.images.puller, this.images.onPodStarted),
    });
    this.runner.start();
    this.logger.info({ agentUrl, capacity: c.capacity }, 'node ready');
  }

  async onApplicationShutdown(): Promise<void> {
    const c = this.config;
    await this.runner?.close();
    await this.images?.lastUse.flush();
    if (c.stopPodsOnExit) await this.supervisor?.stopAll();
    await this.presence?.stop().catch(() => undefined);
    await this.http?.close();
    this.runtime?.ports.closeAll();
    if (c.stopPodsOnExit && this.runtime) {
      const warn = (what: string) => (e: unknown) => this.logger.warn({ err: (e as Error).message }, `${what} removal failed`);
      await this.runtime.network.destroy().catch(warn('bridge'));
      await this.runtime.runc.removeCgroupParent().catch(warn('cgroup parent'));
    }
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
