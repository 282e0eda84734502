import type { Resources } from '../pod-spec';
import { NodeImageStatus, rankImageLocality } from './image-locality';
import { NodeSets } from './node-sets';
import { NodeTable } from './node-table';
import { seededRandom } from './seeded-random';
import type { CachedImage, PlacementCandidate, PlacementNode, PlacementRanking, PlanOptions, PodPlacementRequest } from './types';
import { distinctLayers, rankWarm, type WarmIndexes } from './warm-ranking';

export const DEFAULT_CANDIDATE_LIMIT = 8;

/**
 * The scheduler's in-memory view of the cluster for placement, kept up to
 * date incrementally from the node registry, with inverted indexes
 * (digest -> nodes, layer -> nodes, checkpoint key -> nodes) so that a plan
 * over thousands of nodes costs one filter pass over typed arrays, then the
 * warm nodes alone or, when fewer than `limit` of them fit, the holders of
 * the request's layers. Pure: no I/O; randomness (random-fit, baseline ties)
 * comes from a seeded generator.
 */
export class PlacementIndex {
  private readonly table = new NodeTable();
  private readonly digests = new NodeSets(64);
  private readonly layers = new NodeSets(64);
  private readonly checkpoints = new NodeSets(64);
  private readonly runtimes = new NodeSets(64);
  private readonly runtimeOf: Array<string | undefined> = [];
  private readonly caches: Array<Map<string, CachedImage>> = [];
  private readonly layerRefs: Array<Map<string, number>> = [];
  private readonly checkpointKeys: Array<Set<string>> = [];
  private readonly imageSizes = new Map<string, number>();
  /** Node-status view for the kube baseline: built on its first use, or at construction. */
  private status?: NodeImageStatus;
  private readonly warmIndexes: WarmIndexes = {
    digests: this.digests,
    layers: this.layers,
    checkpoints: this.checkpoints,
    runtimes: this.runtimes,
    runtimeOf: this.runtimeOf,
  };
  private present = new Float64Array(64);
  private readonly random: () => number;

  /**
   * `seed`: for random-fit and the baseline's random tie-breaks.
   * `nodeStatusView`: keep the kube baseline's node-status view from the
   * start instead of building it on the first `imageLocality` plan.
   */
  constructor(options: { seed?: number; nodeStatusView?: boolean } = {}) {
    this.random = seededRandom(options.seed ?? 1);
    if (options.nodeStatusView) this.nodeStatus();
  }

  get size(): number {
    return this.table.size;
  }

  has(id: string): boolean {
    return this.table.slot(id) !== undefined;
  }

  /** Adds a node or replaces everything known about it; local reservations on it are kept. */
  upsertNode(node: PlacementNode): void {
    const { slot, isNew } = this.table.acquire(node.id);
    if (isNew) {
      this.caches[slot] = new Map();
      this.layerRefs[slot] = new Map();
      this.checkpointKeys[slot] = new Set();
      this.table.clearLocal(slot);
      this.ensureSlots(this.table.slotCapacity);
    }
    this.table.setLabels(slot, node.labels, node.capabilities ?? []);
    this.table.setHealth(slot, node.ready, node.cordoned);
    this.table.setCapacity(slot, node.capacity);
    this.table.setAllocated(slot, node.allocated);

    const wanted = new Map(node.images.map((image) => [image.digest, image]));
    for (const digest of [...this.caches[slot].keys()]) if (!wanted.has(digest)) this.dropImage(slot, digest);
    for (const image of wanted.values()) if (!this.caches[slot].has(image.digest)) this.putImage(slot, image);
    const keys = new Set(node.checkpointKeys);
    for (const key of [...this.checkpointKeys[slot]]) if (!keys.has(key)) this.dropCheckpoint(slot, key);
    for (const key of keys) this.putCheckpoint(slot, key);
    this.setRuntime(slot, node.runtimeKey);
    this.status?.update(slot, this.caches[slot].values());
  }

  removeNode(id: string): boolean {
    const slot = this.table.slot(id);
    if (slot === undefined) return false;
    for (const digest of [...this.caches[slot].keys()]) this.dropImage(slot, digest);
    for (const key of [...this.checkpointKeys[slot]]) this.dropCheckpoint(slot, key);
    this.setRuntime(slot, undefined);
    this.status?.clear(slot);
    this.table.clearLocal(slot);
    this.table.setAllocated(slot, { cpu: 0, memoryMiB: 0, gpu: 0 });
    this.table.release(id);
    return true;
  }

  setHealth(id: string, health: { ready?: boolean; cordoned?: boolean }): boolean {
    return this.withSlot(id, (slot) => {
      const ready = health.ready ?? this.table.isReady(slot);
      const cordoned = health.cordoned ?? this.table.isCordoned(slot);
      this.table.setHealth(slot, ready, cordoned);
    });
  }

  /** The node's confirmed allocation, as the store has it. Local reservations come on top. */
  setAllocated(id: string, allocated: Resources): boolean {
    return this.withSlot(id, (slot) => this.table.setAllocated(slot, allocated));
  }

  /**
   * Holds capacity for a placement in flight in this process, so that
   * concurrent plans here do not pick the same room. Release it once the
   * store has confirmed (and `setAllocated` carries it) or the attempt failed.
   */
  reserveLocally(id: string, resources: Resources): boolean {
    return this.withSlot(id, (slot) => this.table.addLocal(slot, resources, 1));
  }

  releaseLocally(id: string, resources: Resources): boolean {
    return this.withSlot(id, (slot) => this.table.addLocal(slot, resources, -1));
  }

  addImage(id: string, image: CachedImage): boolean {
    return this.withSlot(id, (slot) => {
      if (this.caches[slot].has(image.digest)) return;
      this.putImage(slot, image);
      this.status?.update(slot, this.caches[slot].values());
    });
  }

  removeImage(id: string, digest: string): boolean {
    return this.withSlot(id, (slot) => {
      if (!this.caches[slot].has(digest)) return;
      this.dropImage(slot, digest);
      this.status?.update(slot, this.caches[slot].values());
    });
  }

  addCheckpoint(id: string, key: string): boolean {
    return this.withSlot(id, (slot) => this.putCheckpoint(slot, key));
  }

  removeCheckpoint(id: string, key: string): boolean {
    return this.withSlot(id, (slot) => this.dropCheckpoint(slot, key));
  }

  /** Nodes that pass the hard filters, best first by the chosen strategy (`warmpod` by default). */
  plan(req: PodPlacementRequest, options: PlanOptions = {}): PlacementRanking {
    const limit = Math.max(0, Math.floor(options.limit ?? DEFAULT_CANDIDATE_LIMIT));
    const feasibleCount = this.table.filter(req);
    let candidates: PlacementCandidate[];
    switch (options.strategy ?? 'warmpod') {
      case 'warmpod':
        candidates = rankWarm(this.table, feasibleCount, req, limit, this.warmIndexes, this.present);
        break;
      case 'imageLocality':
        candidates = rankImageLocality({
          table: this.table,
          feasibleCount,
          resources: req.resources,
          digest: req.digest,
          imageSizeBytes: this.imageSizes.get(req.digest) ?? 0,
          limit,
          status: this.nodeStatus(),
          random: this.random,
        }).map(({ slot, score, why }) => ({ node: this.table.ids[slot], score, why, bytesToFetch: this.bytesToFetch(slot, req) }));
        break;
      case 'randomFit':
        candidates = this.randomFit(feasibleCount, limit).map((slot) => ({
          node: this.table.ids[slot],
          score: 0,
          why: 'random feasible node',
          bytesToFetch: this.bytesToFetch(slot, req),
        }));
        break;
    }
    const ranking: PlacementRanking = { candidates, feasible: feasibleCount, rejections: this.table.rejections() };
    if (req.requireCapability !== undefined) ranking.requiredCapability = req.requireCapability;
    return ranking;
  }

  /** Bytes of the request's layers not on the node (0 when it holds the digest). */
  private bytesToFetch(slot: number, req: PodPlacementRequest): number {
    if (this.digests.has(req.digest, slot)) return 0;
    const { layers, totalBytes } = distinctLayers(req.layers);
    let present = 0;
    for (const layer of layers) if (this.layers.has(layer.digest, slot)) present += layer.sizeBytes;
    return Math.max(0, totalBytes - present);
  }

  /** `limit` distinct feasible slots, uniformly at random (partial Fisher-Yates). */
  private randomFit(feasibleCount: number, limit: number): number[] {
    const feasible = this.table.feasible;
    const picked: number[] = [];
    for (let i = 0; i < Math.min(limit, feasibleCount); i++) {
      const j = i + Math.floor(this.random() * (feasibleCount - i));
      const slot = feasible[j];
      feasible[j] = feasible[i];
      feasible[i] = slot;
      picked.push(slot);
    }
    return picked;
  }

  private nodeStatus(): NodeImageStatus {
    if (!this.status) {
      const status = new NodeImageStatus(this.table.slotCapacity);
      for (let slot = 0; slot < this.table.highWater; slot++) if (this.table.ids[slot]) status.update(slot, this.caches[slot].values());
      this.status = status;
    }
    return this.status;
  }

  private putImage(slot: number, image: CachedImage): void {
    this.caches[slot].set(image.digest, image);
    this.digests.add(image.digest, slot);
    this.imageSizes.set(image.digest, image.sizeBytes);
    const refs = this.layerRefs[slot];
    for (const layer of distinctLayers(image.layers).layers) {
      const count = refs.get(layer.digest) ?? 0;
      refs.set(layer.digest, count + 1);
      if (count === 0) this.layers.add(layer.digest, slot);
    }
  }

  private dropImage(slot: number, digest: string): void {
    const image = this.caches[slot].get(digest);
    if (!image) return;
    this.caches[slot].delete(digest);
    this.digests.remove(digest, slot);
    if (this.digests.count(digest) === 0) this.imageSizes.delete(digest);
    const refs = this.layerRefs[slot];
    for (const layer of distinctLayers(image.layers).layers) {
      const count = (refs.get(layer.digest) ?? 1) - 1;
      if (count > 0) {
        refs.set(layer.digest, count);
      } else {
        refs.delete(layer.digest);
        this.layers.remove(layer.digest, slot);
      }
    }
  }

  private putCheckpoint(slot: number, key: string): void {
    this.checkpointKeys[slot].add(key);
    this.checkpoints.add(key, slot);
  }

  private dropCheckpoint(slot: number, key: string): void {
    this.checkpointKeys[slot].delete(key);
    this.checkpoints.remove(key, slot);
  }

  private setRuntime(slot: number, runtime: string | undefined): void {
    const before = this.runtimeOf[slot];
    if (before === runtime) return;
    if (before !== undefined) this.runtimes.remove(before, slot);
    if (runtime !== undefined) this.runtimes.add(runtime, slot);
    this.runtimeOf[slot] = runtime;
  }

  private ensureSlots(slots: number): void {
    if (this.present.length >= slots) return;
    this.present = new Float64Array(slots);
    this.digests.ensureCapacity(slots);
    this.layers.ensureCapacity(slots);
    this.checkpoints.ensureCapacity(slots);
    this.runtimes.ensureCapacity(slots);
  }

  private withSlot(id: string, apply: (slot: number) => void): boolean {
    const slot = this.table.slot(id);
    if (slot === undefined) return false;
    apply(slot);
    return true;
  }
}
