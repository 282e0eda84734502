import type { Redis } from 'ioredis';
import {
  PlacementIndex,
  runtimeKeyOfCapabilities,
  type CachedImage,
  type PlacementNode,
  type PlacementRanking,
  type PodPlacementRequest,
  type Resources,
} from '@warmpod/domain';
import { messageOf, reportConnectionErrors, type Logger } from '@warmpod/observability';
import {
  ChangeFeed,
  isReady,
  type CapacityUsage,
  NodeFactsReader,
  type NodeFacts,
  type NodeRecord,
  type NodeReservations,
} from '@warmpod/store';

const FLUSH_MS = 50;
const RESYNC_MS = 10_000;
/** Nodes read and applied at a time: the loop is free between chunks, so placements go on during a resync. */
const CHUNK = 500;

/** What the view last applied for a node, to skip what did not change. */
interface Known {
  imagesRev: string;
  usageRev: number;
  heartbeatAt: number;
  lost: boolean;
  ready: boolean;
  allocated: Resources;
  images: readonly CachedImage[];
  /** Readiness, cordon, capacity, labels and capabilities: when these change, waiting pods may fit. */
  shape: string;
  /** Inventory revision and available checkpoints. */
  contents: string;
}

/**
 * This replica's in-memory picture of the cluster for placement. Loaded from
 * Redis, then kept fresh by the change channels (a node's registration,
 * inventory, cordon or loss; freed capacity, which carries the node's usage),
 * a readiness timer (heartbeats are not announced) and a periodic resync.
 * It may lag; the Lua reservation is the real check, and every attempt
 * corrects the node it touched. Reads for the view go through a connection
 * of their own and run one at a time, so a resync never overlaps itself or
 * a refresh, and never queues in front of the placement path's commands.
 */
export class PlacementView {
  private readonly index = new PlacementIndex();
  private readonly known = new Map<string, Known>();
  private readonly dirty = new Set<string>();
  private reader: NodeFactsReader;
  private bulk?: Redis;
  private feed?: ChangeFeed;
  private flushTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private readinessTimer?: NodeJS.Timeout;
  /** The tail of the view's reads: each one starts when the previous ended. */
  private reads: Promise<void> = Promise.resolve();
  private resyncing?: Promise<void>;
  private checkingReadiness = false;
  private stopped = false;
  private gainedRoom: (nodeId: string) => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly reservations: Pick<NodeReservations, 'tryReserve'>,
    private readonly prefix: string,
    private readonly readyWindowMs: number,
    private readonly logger: Logger,
  ) {
    // Until start() opens the view's own connection (tests may resync without starting).
    this.reader = new NodeFactsReader(redis, prefix);
  }

  async start(): Promise<void> {
    this.bulk = reportConnectionErrors(this.redis.duplicate({ connectionName: 'warmpod-scheduler-view' }), this.logger, 'placement view');
    this.reader = new NodeFactsReader(this.bulk, this.prefix);
    this.feed = new ChangeFeed(this.redis, this.prefix, this.logger);
    // Capacity messages carry the node's usage: no read needed.
    const applyUsage = (u: CapacityUsage): void => this.applyUsage(u.nodeId, u.allocated, u.usageRev);
    await this.feed.subscribe({
      nodes: (change) => this.markDirty(change.nodeId),
      capacityFreed: applyUsage,
      capacityReserved: applyUsage,
    });
    await this.resync();
    this.scheduleResync();
    const every = Math.max(100, Math.min(1_000, Math.floor(this.readyWindowMs / 4)));
    this.readinessTimer = setInterval(() => void this.recheckReadiness(), every);
    this.readinessTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.resyncTimer);
    clearInterval(this.readinessTimer);
    clearTimeout(this.flushTimer);
    await this.reads.catch(() => undefined);
    await this.feed?.close();
    await this.bulk?.quit().catch(() => undefined);
  }

  /** Told when a node joins or its readiness, cordon, capacity or labels change (the backlog wakes waiting pods). */
  onNodeGainedRoom(listener: (nodeId: string) => void): void {
    this.gainedRoom = listener;
  }

  /** Called by this replica's node monitor, so its own next placement already avoids the node. */
  noteLost(nodeId: string): void {
    const known = this.known.get(nodeId);
    if (known) {
      known.lost = true;
      known.ready = false;
    }
    this.index.setHealth(nodeId, { ready: false });
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
      const { reserved, allocated, usageRev } = await this.reservations.tryReserve(nodeId, podId, want);
      this.applyUsage(nodeId, allocated, usageRev);
      return reserved;
    } finally {
      this.index.releaseLocally(nodeId, want);
    }
  }

  /** Re-reads one node now (e.g. after a change this replica noticed). */
  refresh(nodeId: string): Promise<void> {
    return this.serially(() => this.refreshNodes([nodeId]));
  }

  /**
   * Reloads every node's small fields, and the image inventories of the nodes
   * whose inventory changed (also run periodically, in case a change message
   * was missed). A call while one runs joins it.
   */
  resync(): Promise<void> {
    this.resyncing ??= this.serially(async () => {
      const ids = await this.reader.ids();
      const seen = new Set(ids);
      await this.refreshNodes(ids);
      for (const id of [...this.known.keys()]) if (!seen.has(id)) this.forget(id);
    }).finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  /** The next resync is timed from the end of the previous one, so they cannot pile up. */
  private scheduleResync(): void {
    if (this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      void this.resync()
        .catch((e: unknown) => this.logger.warn({ err: messageOf(e) }, 'placement resync failed'))
        .finally(() => this.scheduleResync());
    }, RESYNC_MS);
    this.resyncTimer.unref();
  }

  private serially(read: () => Promise<void>): Promise<void> {
    const run = this.reads.then(read);
    this.reads = run.catch(() => undefined);
    return run;
  }

  private markDirty(nodeId: string): void {
    this.dirty.add(nodeId);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const ids = [...this.dirty];
      this.dirty.clear();
      this.serially(() => this.refreshNodes(ids)).catch((e: unknown) =>
        this.logger.warn({ err: messageOf(e) }, 'placement refresh failed'),
      );
    }, FLUSH_MS);
  }

  /** Small fields of every node in `ids`; image inventories only where their revision moved. */
  private async refreshNodes(ids: readonly string[]): Promise<void> {
    for (let from = 0; from < ids.length; from += CHUNK) {
      const chunk = ids.slice(from, from + CHUNK);
      const facts = await this.reader.read(chunk);
      const changed = facts.filter((f): f is NodeFacts => f !== undefined && this.known.get(f.id)?.imagesRev !== f.imagesRev);
      const images = changed.length > 0 ? await this.reader.images(changed.map((f) => f.id)) : [];
      const fresh = new Map(changed.map((f, i) => [f.id, images[i]!]));
      chunk.forEach((id, i) => {
        const f = facts[i];
        if (!f) return this.forget(id);
        this.upsert(f, fresh.get(f.id) ?? this.known.get(id)?.images ?? []);
      });
    }
  }

  private upsert(facts: NodeFacts, images: readonly CachedImage[]): void {
    const before = this.known.get(facts.id);
    const node = toPlacementNode(facts, this.readyWindowMs, images);
    const shape = JSON.stringify([node.ready, node.cordoned, node.capacity, node.labels, node.capabilities]);
    const contents = `${facts.imagesRev} ${node.checkpointKeys.join(' ')}`;
    if (before?.shape === shape && before.contents === contents) {
      // Nothing placement ranks on moved but maybe the usage (a resync finds most nodes so).
      before.heartbeatAt = Date.parse(facts.heartbeatAt);
      return this.applyUsage(facts.id, facts.allocated, facts.usageRev);
    }
    // Keep the newest usage: a reservation reply or usage message may have overtaken this read.
    const stale = before !== undefined && before.usageRev > facts.usageRev;
    if (stale) node.allocated = before.allocated;
    this.index.upsertNode(node);
    if (before?.shape !== shape) this.gainedRoom(facts.id);
    this.known.set(facts.id, {
      shape,
      contents,
      ready: node.ready,
      imagesRev: facts.imagesRev,
      usageRev: stale ? before.usageRev : facts.usageRev,
      heartbeatAt: Date.parse(facts.heartbeatAt),
      lost: Boolean(facts.lostAt),
      allocated: node.allocated,
      images,
    });
  }

  private applyUsage(nodeId: string, allocated: Resources, usageRev: number | undefined): void {
    const known = this.known.get(nodeId);
    if (known) {
      if (usageRev !== undefined && usageRev < known.usageRev) return;
      known.usageRev = usageRev ?? known.usageRev;
      known.allocated = allocated;
    }
    this.index.setAllocated(nodeId, allocated);
  }

  private forget(nodeId: string): void {
    this.index.removeNode(nodeId);
    this.known.delete(nodeId);
  }

  /**
   * Heartbeats are not announced: nodes whose last known heartbeat is past
   * half the ready window are re-read (liveness fields only), and those
   * silent for the whole window stop being candidates.
   */
  private async recheckReadiness(now = Date.now()): Promise<void> {
    if (this.checkingReadiness || this.stopped) return;
    const suspects = [...this.known].filter(([, k]) => !k.lost && now - k.heartbeatAt > this.readyWindowMs / 2).map(([id]) => id);
    if (suspects.length === 0) return;
    this.checkingReadiness = true;
    try {
      const beats = await this.reader.heartbeats(suspects);
      suspects.forEach((id, i) => {
        const known = this.known.get(id);
        const beat = beats[i]!;
        if (!known || !beat.heartbeatAt) return;
        known.heartbeatAt = Date.parse(beat.heartbeatAt);
        known.lost ||= Boolean(beat.lostAt);
        const ready = !known.lost && Date.now() - known.heartbeatAt <= this.readyWindowMs;
        if (this.index.setHealth(id, { ready }) && ready && !known.ready) this.gainedRoom(id);
        known.ready = ready;
      });
    } catch (e) {
      this.logger.warn({ err: messageOf(e) }, 'placement readiness check failed');
    } finally {
      this.checkingReadiness = false;
    }
  }
}

/** A node as placement sees it: lost or silent nodes are not ready; only available checkpoints count. */
export function toPlacementNode(
  node: Pick<
    NodeRecord,
    'id' | 'lostAt' | 'heartbeatAt' | 'cordoned' | 'labels' | 'capacity' | 'allocated' | 'checkpoints' | 'capabilities'
  >,
  readyWindowMs: number,
  images: readonly CachedImage[],
  now = Date.now(),
): PlacementNode {
  return {
    id: node.id,
    ready: !node.lostAt && isReady(node, readyWindowMs, now),
    cordoned: node.cordoned,
    labels: node.labels,
    capacity: node.capacity,
    allocated: node.allocated,
    images,
    checkpointKeys: (node.checkpoints ?? []).filter((c) => c.state === 'available').map((c) => c.key),
    capabilities: node.capabilities['criuOk'] === true ? ['criu-restore'] : [],
    ...withRuntime(runtimeKeyOfCapabilities(node.capabilities)),
  };
}

function withRuntime(runtimeKey: string | undefined): { runtimeKey?: string } {
  return runtimeKey === undefined ? {} : { runtimeKey };
}
