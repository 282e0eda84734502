import type { Redis } from 'ioredis';
import { PlacementIndex, type PlacementRanking, type PodPlacementRequest, type Resources } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { isReady, Keys, type NodeRecord, type NodeRepository } from '@warmpod/store';

const FLUSH_MS = 50;
const RESYNC_MS = 10_000;

/**
 * This replica's in-memory picture of the cluster for placement. Loaded from
 * Redis, then kept fresh by the change channels (a node's registration,
 * inventory, cordon or loss; freed capacity) and a periodic full resync.
 * It may lag; the Lua reservation is the real check, and every attempt
 * corrects the node it touched.
 */
export class PlacementView {
  private readonly index = new PlacementIndex();
  private readonly keys: Keys;
  private readonly dirty = new Set<string>();
  /** Last heartbeat per node: silence sends no message, so readiness is re-checked on a timer. */
  private readonly heartbeats = new Map<string, { at: number; lost: boolean }>();
  private readinessTimer?: NodeJS.Timeout;
  private subscriber?: Redis;
  private flushTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly nodes: NodeRepository,
    prefix: string,
    private readonly readyWindowMs: number,
    private readonly logger: Logger,
  ) {
    this.keys = new Keys(prefix);
  }

  async start(): Promise<void> {
    this.subscriber = this.redis.duplicate();
    await this.subscriber.subscribe(this.keys.nodesChanged(), this.keys.capacityFreed());
    this.subscriber.on('message', (_channel: string, nodeId: string) => this.markDirty(nodeId));
    await this.resync();
    this.resyncTimer = setInterval(() => void this.resync().catch((e: unknown) => this.logger.warn({ err: (e as Error).message }, 'placement resync failed')), RESYNC_MS);
    this.resyncTimer.unref();
    this.readinessTimer = setInterval(() => this.recheckReadiness(), Math.max(100, Math.min(1_000, Math.floor(this.readyWindowMs / 4))));
    this.readinessTimer.unref();
  }

  /** Called by this replica's node monitor, so its own next placement already avoids the node. */
  noteLost(nodeId: string): void {
    const hb = this.heartbeats.get(nodeId);
    if (hb) hb.lost = true;
    this.index.setHealth(nodeId, { ready: false });
  }

  private recheckReadiness(now = Date.now()): void {
    for (const [id, hb] of this.heartbeats) {
      if (!hb.lost && now - hb.at > this.readyWindowMs) this.index.setHealth(id, { ready: false });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    clearInterval(this.readinessTimer);
    clearTimeout(this.flushTimer);
    await this.subscriber?.quit().catch(() => undefined);
  }

  plan(request: PodPlacementRequest, limit = 8): PlacementRanking {
    return this.index.plan(request, { limit });
  }

  /**
   * Reserves through the store, holding the capacity locally meanwhile so
   * concurrent placements in this process do not pick the same last slot.
   */
  async reserve(nodeId: string, podId: string, want: Resources): Promise<boolean> {
    this.index.reserveLocally(nodeId, want);
    try {
      const { reserved, allocated } = await this.nodes.tryReserve(nodeId, podId, want);
      this.index.setAllocated(nodeId, allocated);
      return reserved;
    } finally {
      this.index.releaseLocally(nodeId, want);
    }
  }

  /** Re-reads one node now (e.g. after a release this replica made). */
  async refresh(nodeId: string): Promise<void> {
    const node = await this.nodes.get(nodeId);
    if (node) this.upsert(node);
    else {
      this.index.removeNode(nodeId);
      this.heartbeats.delete(nodeId);
    }
  }

  private markDirty(nodeId: string): void {
    this.dirty.add(nodeId);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const ids = [...this.dirty];
      this.dirty.clear();
      void Promise.all(ids.map((id) => this.refresh(id))).catch((e: unknown) => this.logger.warn({ err: (e as Error).message }, 'placement refresh failed'));
    }, FLUSH_MS);
  }

  /** Reloads every node (also run periodically, in case a change message was missed). */
  async resync(): Promise<void> {
    const records = await this.nodes.list();
    const seen = new Set(records.map((n) => n.id));
    for (const record of records) this.upsert(record);
    for (const id of this.knownIds) {
      if (seen.has(id)) continue;
      this.index.removeNode(id);
      this.heartbeats.delete(id);
    }
    this.knownIds = seen;
  }

  private upsert(node: NodeRecord): void {
    this.index.upsertNode(toPlacementNode(node, this.readyWindowMs));
    this.heartbeats.set(node.id, { at: Date.parse(node.heartbeatAt), lost: Boolean(node.lostAt) });
  }

  private knownIds = new Set<string>();
}

/** A node as placement sees it: lost or silent nodes are not ready. */
export function toPlacementNode(node: NodeRecord, readyWindowMs: number, now = Date.now()) {
  return {
    id: node.id,
    ready: !node.lostAt && isReady(node, readyWindowMs, now),
    cordoned: node.cordoned,
    labels: node.labels,
    capacity: node.capacity,
    allocated: node.allocated,
    images: node.cachedImages ?? [],
    checkpointKeys: (node.checkpoints ?? []).map((c) => c.key),
    capabilities: node.capabilities['criuOk'] === true ? ['criu-restore'] : [],
  };
}
