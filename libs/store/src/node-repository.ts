import type { Redis } from 'ioredis';
import { nodeChangeMessage } from './change-messages';
import { Keys } from './keys';
import { imageArgs, parseImageEntries, readLayers, withLayers, type LayerInfo } from './node-images';
import { allocatedOf, capacityOf, decodeNodeHash, type NodeRecord } from './node-record';
import { fieldList, pipelineReplies } from './pipeline-replies';
import { addCachedImage, drainNode, setCordoned } from './scripts/node-scripts';

export type { CachedImage, GpuInfo, LayerInfo, NodeCheckpoint, NodeRecord, NodeRegistration } from './node-record';
export { isReady } from './node-record';

/** See `NodeRepository.poolRelevantState`. */
export interface NodePoolState {
  /** `cordoned`, `lostAt`, `runningPods`, `sessionId`, null where unset. */
  fields: Array<string | null>;
  digests: string[];
}

/**
 * The node registry: cordon, images an agent adds, and reads of node
 * records. Every change is one Lua step and is announced on `nodes:changed`
 * with what changed (see change-messages.ts). Registration and agent
 * reports are `NodeSessions`', capacity is `NodeReservations'`.
 */
export class NodeRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** The Redis channel every node change is published on (see `nodeChangeMessage`; read it through `NodeChangeFeed`). */
  get changesChannel(): string {
    return this.keys.nodesChanged();
  }

  /** Adds one image to a registered node's inventory (layers unknown unless given). */
  async addCachedDigest(id: string, digest: string, sizeBytes: number, layers: LayerInfo[] = []): Promise<void> {
    const [, entry, layersJson] = imageArgs({ digest, sizeBytes, layers });
    await addCachedImage.run(
      this.redis,
      { nodes: this.keys.nodes(), node: this.keys.node(id), images: this.keys.nodeImages(id), layers: this.keys.layers(digest) },
      { nodeId: id, digest, entry, layersJson, channel: this.changesChannel, change: nodeChangeMessage(id, 'inventory') },
    );
  }

  /** False for an unknown node. */
  async setCordoned(id: string, cordoned: boolean): Promise<boolean> {
    return setCordoned.run(
      this.redis,
      { nodes: this.keys.nodes(), node: this.keys.node(id) },
      { nodeId: id, cordoned: String(cordoned), channel: this.changesChannel, change: nodeChangeMessage(id, 'cordon') },
    );
  }

  /**
   * Starts draining a node (false for an unknown one): no new reservation
   * from now on, cordoned; its agent then moves or stops its pods and
   * deregisters. Idempotent.
   */
  async startDrain(id: string, now = new Date()): Promise<boolean> {
    return drainNode.run(
      this.redis,
      { nodes: this.keys.nodes(), node: this.keys.node(id) },
      { nodeId: id, nowIso: now.toISOString(), channel: this.changesChannel, change: nodeChangeMessage(id, 'draining') },
    );
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    const [raw, usage, images] = await Promise.all([
      this.redis.hgetall(this.keys.node(id)),
      this.redis.hgetall(this.keys.nodeUsage(id)),
      this.redis.hgetall(this.keys.nodeImages(id)),
    ]);
    const r = decodeNodeHash(raw);
    if (!r) return undefined;
    const entries = parseImageEntries(images);
    const layers = await readLayers(
      this.redis,
      this.keys,
      entries.filter((e) => e.layerCount > 0 && !e.inlineLayers).map((e) => e.digest),
    );
    const cachedImages = withLayers(entries, layers);
    return {
      id,
      labels: r.labels,
      capacity: capacityOf(r),
      agentUrl: r.agentUrl,
      capabilities: r.capabilities,
      gpus: r.gpus ?? [],
      registeredAt: r.registeredAt,
      heartbeatAt: r.heartbeatAt,
      cordoned: r.cordoned,
      allocated: allocatedOf(usage),
      cachedDigests: cachedImages.map(({ digest, sizeBytes }) => ({ digest, sizeBytes })),
      cachedImages,
      runningPods: r.runningPods ?? [],
      checkpoints: r.checkpoints ?? [],
      ...(r.reportedUsage ? { reportedUsage: r.reportedUsage } : {}),
      ...(r.inventoryAt ? { inventoryAt: r.inventoryAt } : {}),
      ...(r.sessionId ? { sessionId: r.sessionId } : {}),
      ...(r.lostAt ? { lostAt: r.lostAt } : {}),
      ...(r.drainingAt ? { drainingAt: r.drainingAt } : {}),
    };
  }

  async list(): Promise<NodeRecord[]> {
    const ids = (await this.redis.smembers(this.keys.nodes())).sort();
    const nodes = await Promise.all(ids.map((id) => this.get(id)));
    return nodes.filter((n): n is NodeRecord => n !== undefined);
  }

  /**
   * What a warm pool cares about of a node (cordon, loss, running pods,
   * session, cached digests), as stored: equal values mean none of it moved.
   */
  async poolRelevantState(id: string): Promise<NodePoolState> {
    const [fields, digests] = await Promise.all([
      this.redis.hmget(this.keys.node(id), 'cordoned', 'lostAt', 'runningPods', 'sessionId'),
      this.redis.hkeys(this.keys.nodeImages(id)),
    ]);
    return { fields, digests: digests.sort() };
  }

  /** Every registered node's liveness fields only (one pipeline): what a heartbeat watcher needs. */
  async heartbeats(): Promise<Array<{ id: string; heartbeatAt: string; lostAt?: string }>> {
    const ids = (await this.redis.smembers(this.keys.nodes())).sort();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.node(id), 'heartbeatAt', 'lostAt');
    const replies = pipelineReplies(await pipeline.exec());
    return ids.flatMap((id, i) => {
      const [heartbeatAt, lostAt] = fieldList.parse(replies[i]);
      return heartbeatAt ? [{ id, heartbeatAt, ...(lostAt ? { lostAt } : {}) }] : [];
    });
  }
}
