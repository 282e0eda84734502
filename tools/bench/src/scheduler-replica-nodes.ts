import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { NodeRegistryClient, type AgentInventory, type CachedImageMessage, type RegisterRequest } from '@warmpod/node-registry';
import { ClusterTls, createLogger, type Logger } from '@warmpod/observability';
import { signLeaf, type ClusterPki } from '@warmpod/devkit';
import { Keys, NodeRepository, NodeReservations } from '@warmpod/store';
import type { SyntheticCluster, SyntheticNode } from './scheduler-cluster';

/** The reservation that stands for a node's background workloads (there before the benchmark). */
export const BACKGROUND_RESERVATION = 'background';
const REGISTER_CONCURRENCY = 256;

/**
 * The synthetic cluster's nodes, simulated in this process: per node one real
 * `NodeRegistryClient` (the agent's gRPC client) that registers with a
 * scheduler replica's node registry (labels with the pools, capacity, GPUs,
 * capabilities) and sends its full inventory (cached images with their
 * layers). No agent process, no runc, no image store: a node's "pull" is
 * its client reporting the image as cached as soon as a pod is placed there
 * (a change report over the same stream), and its pods never run (the bench
 * ends them after their lifetime). Background workloads are one reservation
 * per node, taken before the node's first inventory is sent, so each
 * replica sees them with the node. Nodes the synthetic cluster marks not
 * ready are not registered (never candidates either way); cordoned ones are
 * cordoned through the store, as the cordon endpoint does.
 */
export class SimulatedNodes {
  private readonly clients: Array<NodeRegistryClient | undefined>;
  private readonly cached: Array<Set<number>>;
  private readonly imageMessages: CachedImageMessage[];
  private readonly nodes: NodeRepository;
  private readonly reservations: NodeReservations;
  private readonly keys: Keys;
  private readonly tls: ClusterTls[] = [];
  readonly registered: SyntheticNode[];

  constructor(
    private readonly cluster: SyntheticCluster,
    private readonly redis: Redis,
    prefix: string,
    private readonly grpcPorts: number[],
    /** The replicas' cluster CA: every node gets a certificate naming it, as a real agent has. */
    private readonly pki: ClusterPki,
  ) {
    this.nodes = new NodeRepository(redis, prefix);
    this.reservations = new NodeReservations(redis, prefix);
    this.keys = new Keys(prefix);
    this.clients = cluster.nodes.map(() => undefined);
    this.cached = cluster.nodes.map((n) => new Set(n.cache));
    this.imageMessages = cluster.images.map((i) => ({
      digest: i.digest,
      sizeBytes: i.sizeBytes,
      layers: i.layers.map((l) => ({ digest: l.digest, sizeBytes: l.sizeBytes })),
    }));
    this.registered = cluster.nodes.filter((n) => n.ready);
  }

  /** Registers every ready node through gRPC; resolves once each one's first inventory was accepted. */
  async registerAll(timeoutMs: number): Promise<void> {
    const logger = createLogger({ service: 'bench-node', level: 'error' });
    const certificates = await this.certificates(logger);
    const indexOf = new Map(this.cluster.nodes.map((n, i) => [n.id, i]));
    let next = 0;
    let failure: Error | undefined;
    const deadline = Date.now() + timeoutMs;
    const worker = async () => {
      while (next < this.registered.length && !failure) {
        const node = this.registered[next++]!;
        const i = indexOf.get(node.id)!;
        const client = new NodeRegistryClient({
          target: `127.0.0.1:${this.grpcPorts[i % this.grpcPorts.length]!}`,
          registration: registration(node),
          inventory: this.inventoryOf(i),
          onStopPods: async () => undefined,
          logger,
          registerTimeoutMs: 30_000,
          tls: await certificates(node.id),
        });
        this.clients[i] = client;
        const started = client.start();
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now())).unref());
        if ((await Promise.race([started, timeout])) === 'timeout')
          failure = new Error(`node ${node.id} was not registered within ${timeoutMs} ms`);
      }
    };
    await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, worker));
    if (failure) throw failure;
    for (const node of this.cluster.nodes) if (node.ready && node.cordoned) await this.nodes.setCordoned(node.id, true);
  }

  /** Checks in Redis that every registered node has its inventory and background reservation; returns the nodes missing. */
  async missingInRedis(): Promise<string[]> {
    const pipeline = this.redis.pipeline();
    for (const n of this.registered) {
      pipeline.hget(this.keys.node(n.id), 'inventoryAt');
      pipeline.hexists(this.keys.nodeReservations(n.id), BACKGROUND_RESERVATION);
    }
    const replies = (await pipeline.exec()) ?? [];
    return this.registered.filter((n, k) => !replies[2 * k]?.[1] || (hasBackground(n) && replies[2 * k + 1]?.[1] !== 1)).map((n) => n.id);
  }

  /** The node "pulled" the image for a pod placed there: report it in a change report. */
  pulled(node: number, image: number): void {
    const cache = this.cached[node]!;
    if (cache.has(image)) return;
    cache.add(image);
    this.clients[node]?.reportChange();
  }

  /** Ends every stream cleanly (the scheduler answers OK) and stops reconnecting. */
  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c?.stop()));
    for (const tls of this.tls) tls.close();
  }

  /** Node certificates signed in-process (thousands of nodes: an openssl run each would take minutes). */
  private async certificates(logger: Logger): Promise<(nodeId: string) => Promise<ClusterTls>> {
    const ca = {
      cert: new X509Certificate(await readFile(this.pki.caFile)),
      key: createPrivateKey(await readFile(join(this.pki.dir, 'ca.key'))),
    };
    const dir = join(this.pki.dir, 'bench-nodes');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return async (nodeId) => {
      const leaf = signLeaf(`node:${nodeId}`, ca);
      const paths = { caFile: this.pki.caFile, certFile: join(dir, `${nodeId}.crt`), keyFile: join(dir, `${nodeId}.key`) };
      await writeFile(paths.keyFile, leaf.key, { mode: 0o600 });
      await writeFile(paths.certFile, leaf.cert);
      const tls = await ClusterTls.load(paths, { reloadMs: 3_600_000, logger });
      this.tls.push(tls);
      return tls;
    };
  }

  private inventoryOf(i: number): () => Promise<AgentInventory> {
    const node = this.cluster.nodes[i]!;
    let backgroundHeld = false;
    return async () => {
      if (!backgroundHeld && hasBackground(node)) {
        const { reserved } = await this.reservations.tryReserve(node.id, BACKGROUND_RESERVATION, node.background);
        if (!reserved) throw new Error(`background of ${node.id} does not fit its capacity`);
        backgroundHeld = true;
      }
      return {
        images: [...this.cached[i]!].map((image) => this.imageMessages[image]!),
        runningPods: [],
        checkpoints: [],
        usage: node.background,
      };
    };
  }
}

function hasBackground(n: SyntheticNode): boolean {
  return n.background.cpu > 0 || n.background.memoryMiB > 0 || n.background.gpu > 0;
}

function registration(n: SyntheticNode): RegisterRequest {
  return {
    nodeId: n.id,
    labels: n.labels,
    capacity: { cpu: n.capacity.cpu, memoryMib: n.capacity.memoryMiB, gpu: n.capacity.gpu },
    gpus: n.capacity.gpu > 0 ? [{ model: 'simulated-gpu', count: n.capacity.gpu }] : [],
    capabilities: {
      runtime: 'simulated',
      runcVersion: '',
      criuVersion: '',
      criuOk: false,
      criuReason: 'simulated node',
      kernel: '',
      arch: process.arch,
      cpuFlags: [],
    },
    agentUrl: 'http://127.0.0.1:1',
  };
}
