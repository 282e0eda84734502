import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Resources } from '@warmpod/domain';
import { runScript } from './connection';
import { Keys } from './keys';
import { imageArgs, parseImageEntries, parseJson, readLayers, withLayers, type CachedImage, type LayerInfo } from './node-images';
import {
  ADD_CACHED_IMAGE,
  DEREGISTER_NODE,
  HEARTBEAT,
  NODE_DELTA,
  NODE_INVENTORY,
  NODE_TOUCH,
  REGISTER_NODE,
  RELEASE,
  RESERVE,
  SET_CORDONED,
} from './lua';

export type { CachedImage, LayerInfo } from './node-images';

export interface GpuInfo {
  model: string;
  count: number;
}

export interface NodeCheckpoint {
  id: string;
  key: string;
  state: string;
  sizeBytes: number;
}

export interface NodeRegistration {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  /** Where the agent serves node-local reads (pod logs). */
  agentUrl: string;
  /** runtime, runcVersion, criuVersion, criuOk, criuReason, kernel, arch, cpuFlags (space-separated). */
  capabilities: Record<string, string | boolean>;
  gpus?: GpuInfo[];
}

/** What an agent reports on connect: replaces everything known about the node's contents. */
export interface NodeInventory {
  images: CachedImage[];
  runningPods: string[];
  checkpoints: NodeCheckpoint[];
  /** As the agent accounts it; absent when not reported. */
  usage?: Resources;
}

/** A change report: images added and removed; the other lists are complete and replace the stored ones. */
export interface NodeInventoryDelta {
  addedImages: CachedImage[];
  removedImages: string[];
  runningPods: string[];
  checkpoints: NodeCheckpoint[];
  usage?: Resources;
}

/** Outcome of a write made within an agent session. */
export type SessionWrite = 'applied' | 'unknown-node' | 'stale-session' | 'node-lost';

export interface NodeRecord extends NodeRegistration {
  registeredAt: string;
  heartbeatAt: string;
  cordoned: boolean;
  allocated: Resources;
  cachedDigests: Array<{ digest: string; sizeBytes: number }>;
  // Always set by get(); optional only so that records built by hand elsewhere stay valid.
  cachedImages?: CachedImage[];
  runningPods?: string[];
  checkpoints?: NodeCheckpoint[];
  /** Usage as the agent last reported it (reservations are `allocated`). */
  reportedUsage?: Resources;
  /** When the last full inventory was applied. */
  inventoryAt?: string;
  /** The current agent session; a report carrying another one is refused. */
  sessionId?: string;
  /** Set when the node was declared lost; cleared when its agent registers again. */
  lostAt?: string;
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
  gpus: z.string().optional(),
  runningPods: z.string().optional(),
  checkpoints: z.string().optional(),
  reportedUsage: z.string().optional(),
  inventoryAt: z.string().optional(),
  sessionId: z.string().optional(),
  lostAt: z.string().optional(),
});

const gpusSchema = z.array(z.object({ model: z.string(), count: z.number() }));
const podsSchema = z.array(z.string());
const checkpointsSchema = z.array(z.object({ id: z.string(), key: z.string(), state: z.string(), sizeBytes: z.number() }));
const resourcesSchema = z.object({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number() });

const milli = (cores: number): number => Math.round(cores * 1000);

/** Node registry and capacity accounting. Multi-key updates are one Lua step each, and announce the node on `nodes:changed`. */
export class NodeRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** The Redis channel every node change is published on (message: the node id). */
  get changesChannel(): string {
    return this.keys.nodesChanged();
  }

  /**
   * Registers (or re-registers) a node. With `sessionId`, that agent session
   * becomes the only one whose reports are accepted. Clears a lost mark;
   * keeps the cordon flag and the last known inventory until a new one arrives.
   */
  async register(node: NodeRegistration, sessionId = ''): Promise<void> {
    const now = new Date().toISOString();
    const fields: Record<string, string> = {
      labels: JSON.stringify(node.labels),
      capCpuMilli: String(milli(node.capacity.cpu)),
      capMemoryMiB: String(node.capacity.memoryMiB),
      capGpu: String(node.capacity.gpu),
      agentUrl: node.agentUrl,
      capabilities: JSON.stringify(node.capabilities),
      gpus: JSON.stringify(node.gpus ?? []),
      registeredAt: now,
      heartbeatAt: now,
    };
    await runScript(
      this.redis,
      REGISTER_NODE,
      [this.keys.nodes(), this.keys.node(node.id)],
      [node.id, this.changesChannel, sessionId, ...Object.entries(fields).flat()],
    );
  }

  /** Replaces the node's inventory within its session and refreshes liveness. */
  async applyInventory(id: string, sessionId: string, inventory: NodeInventory): Promise<SessionWrite> {
    const result = (await runScript(
      this.redis,
      NODE_INVENTORY,
      [...this.imageKeys(id), ...inventory.images.map((i) => this.keys.layers(i.digest))],
      [...this.sessionArgs(id, sessionId, inventory), ...inventory.images.flatMap(imageArgs)],
    )) as number;
    return sessionWrite(result);
  }

  /** Applies a change report within the node's session and refreshes liveness. */
  async applyDelta(id: string, sessionId: string, delta: NodeInventoryDelta): Promise<SessionWrite> {
    const result = (await runScript(
      this.redis,
      NODE_DELTA,
      [...this.imageKeys(id), ...delta.addedImages.map((i) => this.keys.layers(i.digest))],
      [
        ...this.sessionArgs(id, sessionId, delta),
        String(delta.addedImages.length),
        ...delta.addedImages.flatMap(imageArgs),
        ...delta.removedImages,
      ],
    )) as number;
    return sessionWrite(result);
  }

  /** Refreshes liveness within the node's session (not announced: readers re-check heartbeats themselves). */
  async touch(id: string, sessionId: string): Promise<SessionWrite> {
    const result = (await runScript(
      this.redis,
      NODE_TOUCH,
      [this.keys.nodes(), this.keys.node(id)],
      [id, sessionId, new Date().toISOString()],
    )) as number;
    return sessionWrite(result);
  }

  private imageKeys(id: string): string[] {
    return [this.keys.nodes(), this.keys.node(id), this.keys.nodeImages(id)];
  }

  private sessionArgs(id: string, sessionId: string, report: Pick<NodeInventory, 'runningPods' | 'checkpoints' | 'usage'>): string[] {
    return [
      id,
      sessionId,
      new Date().toISOString(),
      this.changesChannel,
      JSON.stringify(report.runningPods),
      JSON.stringify(report.checkpoints),
      report.usage ? JSON.stringify(report.usage) : '',
    ];
  }

  /** Refreshes liveness and replaces the node's cache inventory (sizes only) without a session; false when the node is not registered. */
  async heartbeat(id: string, cached: Array<{ digest: string; sizeBytes: number }>): Promise<boolean> {
    const result = (await runScript(this.redis, HEARTBEAT, this.imageKeys(id), [
      id,
      new Date().toISOString(),
      this.changesChannel,
      ...cached.flatMap((c) => imageArgs({ digest: c.digest, sizeBytes: c.sizeBytes, layers: [] }).slice(0, 2)),
    ])) as number;
    return result === 1;
  }

  /** Adds one image to a registered node's inventory (layers unknown unless given). */
  async addCachedDigest(id: string, digest: string, sizeBytes: number, layers: LayerInfo[] = []): Promise<void> {
    await runScript(
      this.redis,
      ADD_CACHED_IMAGE,
      [...this.imageKeys(id), this.keys.layers(digest)],
      [id, ...imageArgs({ digest, sizeBytes, layers }), this.changesChannel],
    );
  }

  async setCordoned(id: string, cordoned: boolean): Promise<boolean> {
    const result = (await runScript(
      this.redis,
      SET_CORDONED,
      [this.keys.nodes(), this.keys.node(id)],
      [id, String(cordoned), this.changesChannel],
    )) as number;
    return result === 1;
  }

  /** Takes a node out of the registry (a local node shutting down cleanly). Layer records are shared by digest and stay. */
  async deregister(id: string): Promise<void> {
    await runScript(this.redis, DEREGISTER_NODE, this.imageKeys(id), [id, this.changesChannel]);
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
    const entries = parseImageEntries(images);
    const layers = await readLayers(
      this.redis,
      this.keys,
      entries.filter((e) => e.layerCount > 0 && !e.inlineLayers).map((e) => e.digest),
    );
    const cachedImages = withLayers(entries, layers);
    const reportedUsage = parseJson(r.reportedUsage, resourcesSchema);
    return {
      id,
      labels: JSON.parse(r.labels) as Record<string, string>,
      capacity: { cpu: Number(r.capCpuMilli) / 1000, memoryMiB: Number(r.capMemoryMiB), gpu: Number(r.capGpu) },
      agentUrl: r.agentUrl,
      capabilities: JSON.parse(r.capabilities) as NodeRecord['capabilities'],
      gpus: parseJson(r.gpus, gpusSchema) ?? [],
      registeredAt: r.registeredAt,
      heartbeatAt: r.heartbeatAt,
      cordoned: r.cordoned === 'true',
      allocated: {
        cpu: Number(usage['cpuMilli'] ?? 0) / 1000,
        memoryMiB: Number(usage['memoryMiB'] ?? 0),
        gpu: Number(usage['gpu'] ?? 0),
      },
      cachedDigests: cachedImages.map(({ digest, sizeBytes }) => ({ digest, sizeBytes })),
      cachedImages,
      runningPods: parseJson(r.runningPods, podsSchema) ?? [],
      checkpoints: parseJson(r.checkpoints, checkpointsSchema) ?? [],
      ...(reportedUsage ? { reportedUsage } : {}),
      ...(r.inventoryAt ? { inventoryAt: r.inventoryAt } : {}),
      ...(r.sessionId ? { sessionId: r.sessionId } : {}),
      ...(r.lostAt ? { lostAt: r.lostAt } : {}),
    };
  }

  async list(): Promise<NodeRecord[]> {
    const ids = (await this.redis.smembers(this.keys.nodes())).sort();
    const nodes = await Promise.all(ids.map((id) => this.get(id)));
    return nodes.filter((n): n is NodeRecord => n !== undefined);
  }

  /** Every registered node's liveness fields only (one pipeline): what a heartbeat watcher needs. */
  async heartbeats(): Promise<Array<{ id: string; heartbeatAt: string; lostAt?: string }>> {
    const ids = (await this.redis.smembers(this.keys.nodes())).sort();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.node(id), 'heartbeatAt', 'lostAt');
    const replies = (await pipeline.exec()) ?? [];
    return ids.flatMap((id, i) => {
      const [heartbeatAt, lostAt] = (replies[i]?.[1] ?? []) as Array<string | null>;
      return heartbeatAt ? [{ id, heartbeatAt, ...(lostAt ? { lostAt } : {}) }] : [];
    });
  }

  /** Atomically reserves capacity; false when it no longer fits. */
  async reserve(nodeId: string, podId: string, want: Resources): Promise<boolean> {
    return (await this.tryReserve(nodeId, podId, want)).reserved;
  }

  /**
   * Like `reserve`, and also tells the node's usage after the attempt and its
   * revision (to correct a cached view, keeping the newest of several reports).
   * A new reservation is announced on `capacity:reserved` with the usage after it.
   */
  async tryReserve(
    nodeId: string,
    podId: string,
    want: Resources,
  ): Promise<{ reserved: boolean; allocated: Resources; usageRev?: number }> {
    const [outcome, cpuMilli, memoryMiB, gpu, usageRev] = (await runScript(
      this.redis,
      RESERVE,
      [this.keys.node(nodeId), this.keys.nodeUsage(nodeId), this.keys.nodeReservations(nodeId)],
      [podId, String(milli(want.cpu)), String(want.memoryMiB), String(want.gpu), this.keys.capacityReserved(), nodeId],
    )) as [number, number, number, number, number];
    return { reserved: outcome === 1, allocated: { cpu: cpuMilli / 1000, memoryMiB, gpu }, usageRev };
  }

  /** Gives a pod's reservation back and announces the node's usage after it on `capacity:freed`. */
  async release(nodeId: string, podId: string): Promise<void> {
    await runScript(
      this.redis,
      RELEASE,
      [this.keys.nodeUsage(nodeId), this.keys.nodeReservations(nodeId)],
      [podId, this.keys.capacityFreed(), nodeId],
    );
  }

  async reservations(nodeId: string): Promise<string[]> {
    return this.redis.hkeys(this.keys.nodeReservations(nodeId));
  }
}

/**
 * Calls `onChange(nodeId)` for every node change published under `prefix`.
 * `subscriber` must be a connection of its own (it enters subscriber mode).
 * Resolves once subscribed, to a function that stops watching.
 */
export async function watchNodeChanges(
  subscriber: Redis,
  prefix: string,
  onChange: (nodeId: string) => void,
): Promise<() => Promise<void>> {
  const channel = new Keys(prefix).nodesChanged();
  const listener = (from: string, message: string): void => {
    if (from === channel) onChange(message);
  };
  subscriber.on('message', listener);
  await subscriber.subscribe(channel);
  return async () => {
    subscriber.off('message', listener);
    await subscriber.unsubscribe(channel);
  };
}

export function isReady(node: Pick<NodeRecord, 'heartbeatAt'>, readyWindowMs: number, now = Date.now()): boolean {
  return now - Date.parse(node.heartbeatAt) <= readyWindowMs;
}

function sessionWrite(result: number): SessionWrite {
  if (result === 1) return 'applied';
  if (result === -1) return 'stale-session';
  if (result === -2) return 'node-lost';
  return 'unknown-node';
}
