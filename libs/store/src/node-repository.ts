import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { NodeView, Resources } from '@warmpod/domain';
import { Keys } from './keys';
import { HEARTBEAT, RELEASE, RESERVE } from './lua';

export interface NodeRegistration {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  /** Where the agent serves node-local reads (pod logs). */
  agentUrl: string;
  capabilities: Record<string, string | boolean>;
}

export interface NodeRecord extends NodeRegistration {
  registeredAt: string;
  heartbeatAt: string;
  cordoned: boolean;
  allocated: Resources;
  cachedDigests: Array<{ digest: string; sizeBytes: number }>;
}

const recordSchema = z.object({
  labels: z.string(),
  capCpuMilli: z.string(),
  capMemoryMiB: z.string(),
  capGpu: z.string(),
  agentUrl: z.string(),
  capabilities: z.string(),
  registeredAt: z.string(),
  heartbeatAt: z.string(),
  cordoned: z.string().optional(),
});

const milli = (cores: number): number => Math.round(cores * 1000);

/** Node registry and capacity accounting. Reservations are one Lua step each. */
export class NodeRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async register(node: NodeRegistration): Promise<void> {
    const now = new Date().toISOString();
    await this.redis
      .multi()
      .hset(this.keys.node(node.id), {
        labels: JSON.stringify(node.labels),
        capCpuMilli: milli(node.capacity.cpu),
        capMemoryMiB: node.capacity.memoryMiB,
        capGpu: node.capacity.gpu,
        agentUrl: node.agentUrl,
        capabilities: JSON.stringify(node.capabilities),
        registeredAt: now,
        heartbeatAt: now,
      })
      .sadd(this.keys.nodes(), node.id)
      .exec();
  }

  /** Refreshes liveness and replaces the node's cache inventory; false when the node is not registered. */
  async heartbeat(id: string, cached: Array<{ digest: string; sizeBytes: number }>): Promise<boolean> {
    const result = (await this.redis.eval(
      HEARTBEAT,
      3,
      this.keys.nodes(),
      this.keys.node(id),
      this.keys.nodeImages(id),
      id,
      new Date().toISOString(),
      ...cached.flatMap((c) => [c.digest, String(c.sizeBytes)]),
    )) as number;
    return result === 1;
  }

  async addCachedDigest(id: string, digest: string, sizeBytes: number): Promise<void> {
    await this.redis.hset(this.keys.nodeImages(id), digest, String(sizeBytes));
  }

  async setCordoned(id: string, cordoned: boolean): Promise<boolean> {
    const exists = await this.redis.sismember(this.keys.nodes(), id);
    if (!exists) return false;
    await this.redis.hset(this.keys.node(id), 'cordoned', String(cordoned));
    return true;
  }

  /** Takes a node out of the registry (a local node shutting down cleanly). */
  async deregister(id: string): Promise<void> {
    await this.redis.multi().srem(this.keys.nodes(), id).del(this.keys.node(id), this.keys.nodeImages(id)).exec();
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    const [raw, usage, images] = await Promise.all([
      this.redis.hgetall(this.keys.node(id)),
      this.redis.hgetall(this.keys.nodeUsage(id)),
      this.redis.hgetall(this.keys.nodeImages(id)),
    ]);
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    const r = parsed.data;
    return {
      id,
      labels: JSON.parse(r.labels) as Record<string, string>,
      capacity: { cpu: Number(r.capCpuMilli) / 1000, memoryMiB: Number(r.capMemoryMiB), gpu: Number(r.capGpu) },
      agentUrl: r.agentUrl,
      capabilities: JSON.parse(r.capabilities) as NodeRecord['capabilities'],
      registeredAt: r.registeredAt,
      heartbeatAt: r.heartbeatAt,
      cordoned: r.cordoned === 'true',
      allocated: {
        cpu: Number(usage['cpuMilli'] ?? 0) / 1000,
        memoryMiB: Number(usage['memoryMiB'] ?? 0),
        gpu: Number(usage['gpu'] ?? 0),
      },
      cachedDigests: Object.entries(images).map(([digest, size]) => ({ digest, sizeBytes: Number(size) })),
    };
  }

  async list(): Promise<NodeRecord[]> {
    const ids = (await this.redis.smembers(this.keys.nodes())).sort();
    const nodes = await Promise.all(ids.map((id) => this.get(id)));
    return nodes.filter((n): n is NodeRecord => n !== undefined);
  }

  /** The placement view: a node is ready when it heartbeated within `readyWindowMs`. */
  async views(readyWindowMs: number, now = Date.now()): Promise<NodeView[]> {
    return (await this.list()).map((n) => toView(n, readyWindowMs, now));
  }

  /** Atomically reserves capacity; false when it no longer fits. */
  async reserve(nodeId: string, podId: string, want: Resources): Promise<boolean> {
    const result = (await this.redis.eval(
      RESERVE,
      3,
      this.keys.node(nodeId),
      this.keys.nodeUsage(nodeId),
      this.keys.nodeReservations(nodeId),
      podId,
      String(milli(want.cpu)),
      String(want.memoryMiB),
      String(want.gpu),
    )) as number;
    return result === 1;
  }

  async release(nodeId: string, podId: string): Promise<void> {
    await this.redis.eval(RELEASE, 2, this.keys.nodeUsage(nodeId), this.keys.nodeReservations(nodeId), podId);
  }

  async reservations(nodeId: string): Promise<string[]> {
    return this.redis.hkeys(this.keys.nodeReservations(nodeId));
  }
}

export function isReady(node: Pick<NodeRecord, 'heartbeatAt'>, readyWindowMs: number, now = Date.now()): boolean {
  return now - Date.parse(node.heartbeatAt) <= readyWindowMs;
}

export function toView(n: NodeRecord, readyWindowMs: number, now = Date.now()): NodeView {
  return {
    id: n.id,
    ready: isReady(n, readyWindowMs, now),
    cordoned: n.cordoned,
    labels: n.labels,
    capacity: n.capacity,
    allocated: n.allocated,
    cachedDigests: new Set(n.cachedDigests.map((c) => c.digest)),
  };
}
