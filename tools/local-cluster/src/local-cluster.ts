import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, LocalRegistry, sampleImages, type SampleImageDigests } from '@warmpod/devkit';
import type { ClusterNodeSpec, LocalClusterOptions } from './cluster-options';
import { ServiceProcess } from './service-process';

const STOP_GRACE_MS = 20_000;

/**
 * The embedded default: a registry with sample images, the four services and
 * N nodes, all child processes of this one, all stopped by `stop()`.
 */
export class LocalCluster {
  private readonly services: ServiceProcess[] = [];
  private registry?: LocalRegistry;
  private readonly nodes: ClusterNodeSpec[] = [];
  private schedulerGrpcUrl = '';
  images?: SampleImageDigests;
  gatewayUrl = '';

  private constructor(readonly opts: LocalClusterOptions) {}

  get registryHost(): string {
    if (!this.registry) throw new Error('registry not started');
    return this.registry.host;
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(opts);
    try {
      await cluster.boot();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    const logs = join(o.workDir, 'logs');
    await mkdir(logs, { recursive: true });
    this.registry = await LocalRegistry.start({ storageDir: join(o.workDir, 'registry'), port: o.registryPort });
    this.images = await sampleImages(this.registry.host, join(o.workDir, 'images'));

    const gatewayPort = o.gatewayPort || (await freePort());
    const common = { WARMPOD_REDIS_URL: o.redisUrl, WARMPOD_PREFIX: o.prefix, LOG_LEVEL: o.logLevel, ...o.env };
    const app = (name: string) => join(o.root, 'apps', name, 'dist', 'main.js');
    const spawn = (name: string, script: string, env: Record<string, string>) => {
      const svc = ServiceProcess.spawn(name, script, { ...common, ...env }, join(logs, `${name}.log`));
      this.services.push(svc);
      return svc;
    };

    // Agents reach the scheduler's node registry over gRPC on loopback.
    const registryPort = await freePort();
    this.schedulerGrpcUrl = `grpc://127.0.0.1:${registryPort}`;
    spawn('scheduler', app('scheduler'), { SCHEDULER_GRPC_HOST: '127.0.0.1', SCHEDULER_GRPC_PORT: String(registryPort) });
    spawn('prepuller', app('prepuller'), {});
    for (const node of o.nodes) this.spawnNode(node);
    spawn('gateway', app('gateway'), {
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(gatewayPort),
      WARMPOD_TOKENS: JSON.stringify(o.tokens),
      WARMPOD_DEFAULT_REGISTRY: this.registry.host,
    });
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await this.waitUntilReady(Object.keys(o.tokens)[0]!);
  }

  /** Starts one node agent with its own data dir, bridge, subnet and cgroup parent. */
  private spawnNode(node: ClusterNodeSpec): void {
    const o = this.opts;
    const env = {
      WARMPOD_REDIS_URL: o.redisUrl,
      WARMPOD_PREFIX: o.prefix,
      LOG_LEVEL: o.logLevel,
      ...o.env,
      NODE_ID: node.id,
      NODE_DATA_DIR: join(o.workDir, 'nodes', node.id),
      NODE_LABELS: Object.entries(node.labels).map(([k, v]) => `${k}=${v}`).join(','),
      NODE_CPU: String(node.cpu),
      NODE_MEMORY_MIB: String(node.memoryMiB),
      NODE_GPU: String(node.gpu),
      NODE_BRIDGE: node.bridge,
      NODE_SUBNET: node.subnet,
      NODE_CGROUP_PARENT: `warmpod-${o.prefix.replace(/[^A-Za-z0-9]/g, '')}-${node.id}`,
      SCHEDULER_GRPC_URL: this.schedulerGrpcUrl,
      ...node.env,
    };
    this.services.push(ServiceProcess.spawn(node.id, join(o.root, 'apps', 'worker-agent', 'dist', 'main.js'), env, join(o.workDir, 'logs', `${node.id}.log`)));
    this.nodes.push(node);
  }

  /**
   * Test hook: starts one more node agent on the running cluster (a node
   * joining); resolves once it reports Ready.
   */
  async addNode(spec: ClusterNodeSpec): Promise<void> {
    if (!this.schedulerGrpcUrl) throw new Error('cluster not started');
    if (this.nodes.some((n) => n.id === spec.id)) throw new Error(`node ${spec.id} already exists`);
    this.spawnNode(spec);
    await this.waitUntilReady(Object.keys(this.opts.tokens)[0]!);
  }

  /** Polls until the gateway is ready and every node reports Ready. */
  private async waitUntilReady(token: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const dead = this.services.find((s) => !s.running);
      if (dead) throw new Error(`${dead.name} exited during start-up:\n${dead.logTail()}`);
      try {
        const res = await fetch(`${this.gatewayUrl}/v1/nodes`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(1000) });
        if (res.ok) {
          const body = (await res.json()) as { items?: Array<{ health: string }> } | Array<{ health: string }>;
          const nodes = Array.isArray(body) ? body : (body.items ?? []);
          if (nodes.filter((n) => n.health === 'Ready').length >= this.nodes.length) return;
        } else {
          await res.body?.cancel();
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('local cluster did not become ready within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Test hook: SIGKILLs one service (e.g. a node agent) so its machine looks dead. */
  async killService(name: string): Promise<void> {
    await this.service(name).kill();
  }

  /** Test hook: starts a killed or stopped service again with its original settings. */
  async restartService(name: string): Promise<void> {
    const old = this.service(name);
    if (old.running) await old.stop(STOP_GRACE_MS);
    this.services[this.services.indexOf(old)] = old.respawn();
  }

  private service(name: string): ServiceProcess {
    const found = this.services.find((s) => s.name === name);
    if (!found) throw new Error(`no service named ${name}`);
    return found;
  }

  /** Watches for a service dying on its own (so `npm start` can say so). */
  onServiceExit(listener: (name: string, code: number | null) => void): void {
    for (const s of this.services) s.onExit((code) => listener(s.name, code));
  }

  /** Stops the gateway first (no new work), then the rest; agents stop their pods. */
  async stop(): Promise<void> {
    const gateway = this.services.filter((s) => s.name === 'gateway');
    const rest = this.services.filter((s) => s.name !== 'gateway');
    await Promise.all(gateway.map((s) => s.stop(STOP_GRACE_MS)));
    await Promise.all(rest.map((s) => s.stop(STOP_GRACE_MS)));
    this.services.length = 0;
    await this.registry?.stop();
    this.registry = undefined;
  }
}
