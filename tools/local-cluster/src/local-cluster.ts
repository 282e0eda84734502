import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, LocalRegistry, sampleImages, type SampleImageDigests } from '@warmpod/devkit';
import { agentEnv } from './agent-env';
import { criuPrefixPaths, gatewayTokens, type ClusterNodeSpec, type LocalClusterOptions, type VmClusterNodeSpec } from './cluster-options';
import { sweepHostNode } from './node-sweep';
import { ServiceProcess } from './service-process';
import { Supervisor, type RestartNotice } from './supervisor';
import { VmWorkerNode } from './vm-worker-node';

interface NodeListing {
  id: string;
  health: string;
}

const STOP_GRACE_MS = 20_000;

/**
 * The embedded default: a registry with sample images, the four services and
 * N nodes, all child processes of this one, supervised (one that dies is
 * started again, with backoff), all stopped by `stop()`, which then checks
 * that nothing of any node is left.
 */
export class LocalCluster {
  private readonly supervisor = new Supervisor();
  private registry?: LocalRegistry;
  private readonly nodes: ClusterNodeSpec[] = [];
  private readonly vmNodes: VmWorkerNode[] = [];
  private schedulerGrpcUrl = '';
  private schedulerGrpcPort = 0;
  images?: SampleImageDigests;
  gatewayUrl = '';
  /** The scheduler's and the prepuller's `/metrics`, `/healthz` and `/readyz` (agents: their agentUrl). */
  schedulerHttpUrl = '';
  prepullerHttpUrl = '';

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
      this.supervisor.watch(svc);
      return svc;
    };

    // Agents reach the scheduler's node registry over gRPC on loopback.
    this.schedulerGrpcPort = await freePort();
    this.schedulerGrpcUrl = `grpc://127.0.0.1:${this.schedulerGrpcPort}`;
    const [schedulerHttpPort, prepullerHttpPort] = [await freePort(), await freePort()];
    this.schedulerHttpUrl = `http://127.0.0.1:${schedulerHttpPort}`;
    this.prepullerHttpUrl = `http://127.0.0.1:${prepullerHttpPort}`;
    spawn('scheduler', app('scheduler'), {
      SCHEDULER_GRPC_HOST: '127.0.0.1',
      SCHEDULER_GRPC_PORT: String(this.schedulerGrpcPort),
      SCHEDULER_HTTP_HOST: '127.0.0.1',
      SCHEDULER_HTTP_PORT: String(schedulerHttpPort),
    });
    spawn('prepuller', app('prepuller'), { PREPULLER_HTTP_HOST: '127.0.0.1', PREPULLER_HTTP_PORT: String(prepullerHttpPort) });
    for (const node of o.nodes) this.spawnNode(node);
    spawn('gateway', app('gateway'), {
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(gatewayPort),
      WARMPOD_TOKENS: gatewayTokens(o),
      WARMPOD_DEFAULT_REGISTRY: this.registry.host,
    });
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await this.waitUntilReady(Object.keys(o.tokens)[0]!);
  }

  /**
   * Starts one node agent with its own data dir, bridge, subnet and cgroup
   * parent, checkpointing with the project's CRIU >= 4.2 (the service or node
   * environment may name another).
   */
  private spawnNode(node: ClusterNodeSpec): void {
    const o = this.opts;
    const criu = criuPrefixPaths(o.root);
    const env = {
      WARMPOD_CRIU_PATH: o.criuPath ?? criu.criu,
      CRIU_CAPABILITY_CACHE: criu.capabilityCache,
      ...agentEnv(o, node, this.schedulerGrpcUrl),
    };
    this.supervisor.watch(ServiceProcess.spawn(node.id, this.agentScript(), env, join(o.workDir, 'logs', `${node.id}.log`)));
    this.nodes.push(node);
  }

  private agentScript(): string {
    return join(this.opts.root, 'apps', 'worker-agent', 'dist', 'main.js');
  }

  /**
   * Test hook: starts one more node agent on the running cluster (a node
   * joining); resolves once it reports Ready.
   */
  async addNode(spec: ClusterNodeSpec): Promise<void> {
    if (!this.schedulerGrpcUrl) throw new Error('cluster not started');
    if (this.hasNode(spec.id)) throw new Error(`node ${spec.id} already exists`);
    this.spawnNode(spec);
    await this.waitUntilReady(Object.keys(this.opts.tokens)[0]!);
  }

  /**
   * Test hook: boots a QEMU/TCG VM (tools/vm-node) running the real worker agent and resolves
   * once the node reports Ready; `stop()` stops its agent cleanly and powers it off.
   */
  async addVmNode(spec: VmClusterNodeSpec): Promise<VmWorkerNode> {
    if (!this.registry || !this.schedulerGrpcUrl) throw new Error('cluster not started');
    if (this.hasNode(spec.id)) throw new Error(`node ${spec.id} already exists`);
    const o = this.opts;
    const redis = new URL(o.redisUrl);
    // The guest reaches host services through QEMU forwards that connect to 127.0.0.1 only.
    if (!['127.0.0.1', 'localhost'].includes(redis.hostname)) throw new Error(`a VM node needs Redis on 127.0.0.1, not ${redis.hostname}`);
    const node = await VmWorkerNode.start({
      id: spec.id,
      // The guest's own criu (Debian's 3.17 on its 6.1 kernel); its probe dump and restore are emulated, hence slow.
      agentEnv: { CRIU_PROBE_TIMEOUT_MS: '60000', ...agentEnv(o, { ...spec, gpu: 0 }, this.schedulerGrpcUrl) },
      redisPort: Number(redis.port || 6379),
      schedulerGrpcPort: this.schedulerGrpcPort,
      registryPort: this.registry.port,
      workDir: join(o.workDir, 'vms', spec.id),
      memoryMiB: spec.vmMemoryMiB ?? 1024,
      cpus: spec.vmCpus ?? 2,
      exposePorts: spec.exposePorts ?? 16,
      bootTimeoutMs: spec.bootTimeoutMs ?? 90_000,
    });
    this.vmNodes.push(node);
    const timeoutMs = spec.readyTimeoutMs ?? 180_000;
    const started = Date.now();
    try {
      await this.waitForNodes(
        (nodes) => nodes.some((n) => n.id === spec.id && n.health === 'Ready'),
        timeoutMs,
        `VM node ${spec.id}`,
        () => node.failure(),
      );
    } catch (error) {
      const tail = node.agentLogs().slice(-3000);
      await node.stop(10_000);
      this.vmNodes.splice(this.vmNodes.indexOf(node), 1);
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nagent output (tail):\n${tail}`);
    }
    node.timings.agentReadyMs = Date.now() - started;
    return node;
  }

  private hasNode(id: string): boolean {
    return this.nodes.some((n) => n.id === id) || this.vmNodes.some((n) => n.id === id);
  }

  /** Polls until the gateway is ready and every host node reports Ready. */
  private waitUntilReady(token: string): Promise<void> {
    const ready = (nodes: NodeListing[]) => this.nodes.every((spec) => nodes.some((n) => n.id === spec.id && n.health === 'Ready'));
    return this.waitForNodes(ready, 60_000, 'local cluster', undefined, token);
  }

  /** Polls GET /v1/nodes until `done`; fails at once when a service dies or `failure` says why. */
  private async waitForNodes(
    done: (nodes: NodeListing[]) => boolean,
    timeoutMs: number,
    what: string,
    failure?: () => string | undefined,
    token = Object.keys(this.opts.tokens)[0]!,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = this.supervisor.services().find((s) => !s.running);
      if (dead) throw new Error(`${dead.name} exited during start-up:\n${dead.logTail()}`);
      const why = failure?.();
      if (why) throw new Error(`${what} did not become ready: ${why}`);
      try {
        const res = await fetch(`${this.gatewayUrl}/v1/nodes`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(1000),
        });
        if (res.ok) {
          const body = (await res.json()) as { items?: NodeListing[] } | NodeListing[];
          if (done(Array.isArray(body) ? body : (body.items ?? []))) return;
        } else {
          await res.body?.cancel();
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Test hook: SIGKILLs one service (e.g. a node agent) so its machine looks dead; it stays down until `restartService`. */
  async killService(name: string): Promise<void> {
    this.supervisor.hold(name);
    await this.service(name).kill();
  }

  /** Test hook: SIGKILLs one service as a crash would; the supervisor starts it again. */
  async crashService(name: string): Promise<void> {
    await this.service(name).kill();
  }

  /** The pid of a service's current process (a supervised restart gets a new one). */
  servicePid(name: string): number | undefined {
    return this.supervisor.get(name)?.pid;
  }

  /** Test hook: starts a killed or stopped service again with its original settings. */
  async restartService(name: string): Promise<void> {
    const old = this.service(name);
    this.supervisor.hold(name);
    if (old.running) await old.stop(STOP_GRACE_MS);
    this.supervisor.release(name);
    this.supervisor.watch(old.respawn());
  }

  private service(name: string): ServiceProcess {
    const found = this.supervisor.get(name);
    if (!found) throw new Error(`no service named ${name}`);
    return found;
  }

  /** Hears of every service that died and is being started again (so `npm start` can say so). */
  onServiceRestart(listener: (notice: RestartNotice) => void): void {
    this.supervisor.onRestart(listener);
  }

  /**
   * Stops the gateway first (no new work), then the rest, VM nodes included;
   * agents stop their pods. Then every host node is swept and checked (its
   * agent in sweep mode): what an agent that died left is removed, and
   * whatever is still there is returned, one line per finding (empty: nothing
   * left running).
   */
  async stop(): Promise<string[]> {
    this.supervisor.stop();
    const services = this.supervisor.services();
    const gateway = services.filter((s) => s.name === 'gateway');
    const rest = services.filter((s) => s.name !== 'gateway');
    await Promise.all(gateway.map((s) => s.stop(STOP_GRACE_MS)));
    // VM agents stop their pods like host agents do, then their VMs power off.
    await Promise.all([...rest.map((s) => s.stop(STOP_GRACE_MS)), ...this.vmNodes.map((n) => n.stop())]);
    this.vmNodes.length = 0;
    const leftovers = (
      await Promise.all(
        this.nodes.map((n) =>
          sweepHostNode(n.id, this.agentScript(), agentEnv(this.opts, n, this.schedulerGrpcUrl || 'grpc://127.0.0.1:1')),
        ),
      )
    ).flat();
    await this.registry?.stop();
    this.registry = undefined;
    return leftovers;
  }
}
