import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterPki, freePort, LocalRegistry, sampleImages, type SampleImageDigests } from '@warmpod/devkit';
import { agentEnv, pkiDir } from './agent-env';
import { criuPrefixPaths, gatewayTokens, type ClusterNodeSpec, type LocalClusterOptions } from './cluster-options';
import { sweepHostNode } from './node-sweep';
import { setUpQueueDoor, type LocalQueueDoor } from './queue-door';
import { setUpServiceUsers, type LocalServiceUsers } from './service-users';
import { ServiceProcess } from './service-process';
import { Supervisor, type RestartNotice } from './supervisor';

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
  private registryGcTimer?: NodeJS.Timeout;
  private registryGc?: Promise<unknown>;
  private readonly nodes: ClusterNodeSpec[] = [];
  private schedulerGrpcUrl = '';
  private schedulerGrpcPort = 0;
  private pki?: ClusterPki;
  images?: SampleImageDigests;
  gatewayUrl = '';
  /** The scheduler's and the prepuller's `/metrics`, `/healthz` and `/readyz` (agents: their agentUrl). */
  schedulerHttpUrl = '';
  prepullerHttpUrl = '';
  /** The queue door's Redis users; `producers` says how each tenant's producer connects. */
  private queueDoor?: LocalQueueDoor;
  /** Each service's own Redis user (fresh passwords each run, removed at stop). */
  private serviceUsers?: LocalServiceUsers;

  get producers(): LocalQueueDoor['producers'] {
    return this.queueDoor?.producers ?? {};
  }

  private constructor(readonly opts: LocalClusterOptions) {}

  /** One garbage collection of the registry (a few seconds' outage); one at a time, logged, never thrown. */
  collectRegistryGarbage(): Promise<unknown> {
    const registry = this.registry;
    if (!registry || this.registryGc) return this.registryGc ?? Promise.resolve();
    this.registryGc = registry
      .garbageCollect()
      .then(({ blobsDeleted, ms }) =>
        console.log(`[local-cluster] registry garbage collection: ${blobsDeleted} blob(s) deleted in ${ms} ms`),
      )
      .catch((error: unknown) => console.error(`[local-cluster] registry garbage collection failed: ${String(error)}`))
      .finally(() => (this.registryGc = undefined));
    return this.registryGc;
  }

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
    // The cluster CA (made once) and fresh certificates for this run: services and agents speak mTLS.
    this.pki = await ClusterPki.open(pkiDir(o), 'warmpod local cluster CA');
    const [schedulerCert, gatewayCert] = [await this.pki.issue('service:scheduler'), await this.pki.issue('service:gateway')];
    this.registry = await LocalRegistry.start({ storageDir: join(o.workDir, 'registry'), port: o.registryPort });
    this.images = await sampleImages(this.registry.host, join(o.workDir, 'images'));
    if (o.registryGcIntervalMs) this.registryGcTimer = setInterval(() => void this.collectRegistryGarbage(), o.registryGcIntervalMs);

    // Each service reaches Redis as its own ACL user; the launcher keeps the default user for setting them up.
    const users = (this.serviceUsers = await setUpServiceUsers(o.redisUrl, o.prefix, join(o.workDir, 'redis-users')));
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
      ...users.envOf('scheduler'),
      ...ClusterPki.env(schedulerCert),
      SCHEDULER_GRPC_HOST: '127.0.0.1',
      SCHEDULER_GRPC_PORT: String(this.schedulerGrpcPort),
      SCHEDULER_HTTP_HOST: '127.0.0.1',
      SCHEDULER_HTTP_PORT: String(schedulerHttpPort),
    });
    // More replicas share the scheduling queue (and could serve agents too: each has a registry of its own).
    for (let n = 2; n <= (o.schedulerReplicas ?? 1); n++) {
      spawn(`scheduler-${n}`, app('scheduler'), {
        ...ClusterPki.env(schedulerCert),
        ...users.envOf('scheduler'),
        SCHEDULER_GRPC_HOST: '127.0.0.1',
        SCHEDULER_GRPC_PORT: String(await freePort()),
        SCHEDULER_HTTP_HOST: '127.0.0.1',
        SCHEDULER_HTTP_PORT: String(await freePort()),
      });
    }
    spawn('prepuller', app('prepuller'), {
      ...users.envOf('prepuller'),
      PREPULLER_HTTP_HOST: '127.0.0.1',
      PREPULLER_HTTP_PORT: String(prepullerHttpPort),
    });
    for (const node of o.nodes) await this.spawnNode(node);
    this.queueDoor = await setUpQueueDoor(o.redisUrl, o.prefix, [...new Set(Object.values(o.tokens))]);
    spawn('gateway', app('gateway'), {
      ...users.envOf('gateway'),
      ...this.queueDoor.gatewayEnv,
      ...ClusterPki.env(gatewayCert),
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
   * environment may name another). Its certificate names the node.
   */
  private async spawnNode(node: ClusterNodeSpec): Promise<void> {
    const o = this.opts;
    if (!this.pki) throw new Error('cluster CA not open');
    await this.pki.issue(`node:${node.id}`);
    const criu = criuPrefixPaths(o.root);
    const env = {
      WARMPOD_CRIU_PATH: o.criuPath ?? criu.criu,
      CRIU_CAPABILITY_CACHE: criu.capabilityCache,
      // Checkpoints travel through the cluster's own registry: any node of the same runtime may restore them.
      CHECKPOINT_REGISTRY: this.registryHost,
      ...agentEnv(o, node, this.schedulerGrpcUrl),
      ...this.serviceUsers?.envOf('worker-agent'),
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
    await this.spawnNode(spec);
    await this.waitUntilReady(Object.keys(this.opts.tokens)[0]!);
  }

  private hasNode(id: string): boolean {
    return this.nodes.some((n) => n.id === id);
  }

  /** Polls until the gateway is ready and every host node reports Ready. */
  private waitUntilReady(token: string): Promise<void> {
    const ready = (nodes: NodeListing[]) => this.nodes.every((spec) => nodes.some((n) => n.id === spec.id && n.health === 'Ready'));
    // Each agent measures CRIU at start (seconds per mode, more on a busy 2-core machine): three nodes need more than a minute there.
    return this.waitForNodes(ready, 120_000, 'local cluster', token);
  }

  /** Polls GET /v1/nodes until `done`; fails at once when a service dies. */
  private async waitForNodes(done: (nodes: NodeListing[]) => boolean, timeoutMs: number, what: string, token: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = this.supervisor.services().find((s) => !s.running);
      if (dead) throw new Error(`${dead.name} exited during start-up:\n${dead.logTail()}`);
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

  /** Test hook: sends a signal to a service (SIGUSR2 makes an agent drain its node and leave the cluster). */
  signalService(name: string, signal: NodeJS.Signals): void {
    this.service(name).signal(signal);
  }

  /** Whether a service's current process runs (a node whose agent left the cluster does not). */
  serviceRunning(name: string): boolean {
    return this.supervisor.get(name)?.running ?? false;
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
   * Stops the gateway first (no new work), then the rest; agents stop their
   * pods. Then every host node is swept and checked (its
   * agent in sweep mode): what an agent that died left is removed, and
   * whatever is still there is returned, one line per finding (empty: nothing
   * left running).
   */
  async stop(): Promise<string[]> {
    clearInterval(this.registryGcTimer);
    this.supervisor.stop();
    const services = this.supervisor.services();
    const gateway = services.filter((s) => s.name === 'gateway');
    const rest = services.filter((s) => s.name !== 'gateway');
    await Promise.all(gateway.map((s) => s.stop(STOP_GRACE_MS)));
    await Promise.all(rest.map((s) => s.stop(STOP_GRACE_MS)));
    const leftovers = (
      await Promise.all(
        this.nodes.map((n) =>
          sweepHostNode(n.id, this.agentScript(), agentEnv(this.opts, n, this.schedulerGrpcUrl || 'grpc://127.0.0.1:1')),
        ),
      )
    ).flat();
    await this.registryGc;
    await this.registry?.stop();
    this.registry = undefined;
    await this.queueDoor?.remove();
    this.queueDoor = undefined;
    await this.serviceUsers?.remove();
    this.serviceUsers = undefined;
    return leftovers;
  }
}
