import type { Resources } from '@warmpod/domain';
import type { PodDraw, SyntheticCluster, SyntheticImage } from './scheduler-cluster';

const EPSILON = 1e-9;

/**
 * The benchmark's own model of the cluster, written independently of the
 * engine: plain sets and a pod ledger. It is the ground truth the engine's
 * choices are checked against (bytes fetched, cache hits, overcommit), and the
 * state the best-achievable reference places on.
 */
export class ClusterModel {
  readonly cpu: Float64Array;
  readonly mem: Float64Array;
  readonly gpu: Float64Array;
  /** Images cached per node; layers present per node; nodes holding each image. */
  readonly cached: Array<Set<number>>;
  readonly layersOn: Array<Set<string>>;
  readonly holders: Array<Set<number>>;
  private readonly running = new Map<number, { node: number; resources: Resources }>();
  /** Placements that left a node over its capacity, or on a node the filters exclude. */
  violations = 0;

  constructor(private readonly cluster: SyntheticCluster) {
    const n = cluster.nodes.length;
    this.cpu = new Float64Array(n);
    this.mem = new Float64Array(n);
    this.gpu = new Float64Array(n);
    this.cached = cluster.nodes.map((node) => new Set(node.cache));
    this.layersOn = cluster.nodes.map((node) => new Set(node.cache.flatMap((i) => cluster.images[i]!.layers.map((l) => l.digest))));
    this.holders = cluster.images.map(() => new Set<number>());
    cluster.nodes.forEach((node, i) => {
      this.cpu[i] = node.background.cpu;
      this.mem[i] = node.background.memoryMiB;
      this.gpu[i] = node.background.gpu;
      for (const image of node.cache) this.holders[image]!.add(i);
    });
  }

  allocated(node: number): Resources {
    return { cpu: this.cpu[node]!, memoryMiB: this.mem[node]!, gpu: this.gpu[node]! };
  }

  fits(node: number, pod: PodDraw): boolean {
    const n = this.cluster.nodes[node]!;
    if (!n.ready || n.cordoned) return false;
    for (const [k, v] of Object.entries(pod.nodeSelector)) if (n.labels[k] !== v) return false;
    const r = pod.resources;
    return (
      r.cpu <= n.capacity.cpu - this.cpu[node]! + EPSILON &&
      r.memoryMiB <= n.capacity.memoryMiB - this.mem[node]! + EPSILON &&
      r.gpu <= n.capacity.gpu - this.gpu[node]! + EPSILON
    );
  }

  /** Bytes the node must pull to run the image: layers it does not hold. */
  bytesToFetch(node: number, image: SyntheticImage, imageIndex: number): number {
    if (this.cached[node]!.has(imageIndex)) return 0;
    let bytes = 0;
    const on = this.layersOn[node]!;
    for (const layer of image.layers) if (!on.has(layer.digest)) bytes += layer.sizeBytes;
    return bytes;
  }

  /** Whether some node the pod fits on already holds its digest (a hit was possible). */
  warmNodeHasRoom(pod: PodDraw): boolean {
    for (const node of this.holders[pod.image]!) if (this.fits(node, pod)) return true;
    return false;
  }

  /** Records the pod on the node and the image pulled there (caches only grow). */
  place(podId: number, node: number, pod: PodDraw): void {
    if (!this.fits(node, pod)) this.violations++;
    this.cpu[node] += pod.resources.cpu;
    this.mem[node] += pod.resources.memoryMiB;
    this.gpu[node] += pod.resources.gpu;
    this.running.set(podId, { node, resources: pod.resources });
    if (!this.cached[node]!.has(pod.image)) {
      this.cached[node]!.add(pod.image);
      this.holders[pod.image]!.add(node);
      for (const layer of this.cluster.images[pod.image]!.layers) this.layersOn[node]!.add(layer.digest);
    }
  }

  /** Ends a pod; returns its node, or undefined if it was never placed. */
  end(podId: number): number | undefined {
    const entry = this.running.get(podId);
    if (!entry) return undefined;
    this.running.delete(podId);
    this.cpu[entry.node] -= entry.resources.cpu;
    this.mem[entry.node] -= entry.resources.memoryMiB;
    this.gpu[entry.node] -= entry.resources.gpu;
    return entry.node;
  }

  /**
   * Recounts every node's allocation from scratch (background + the ledger of
   * running pods) and returns how many nodes exceed capacity, checking the
   * running totals against the recount on the way.
   */
  recountOvercommits(): number {
    const nodes = this.cluster.nodes;
    const sum = nodes.map((n) => ({ ...n.background }));
    for (const { node, resources } of this.running.values()) {
      sum[node]!.cpu += resources.cpu;
      sum[node]!.memoryMiB += resources.memoryMiB;
      sum[node]!.gpu += resources.gpu;
    }
    let over = 0;
    sum.forEach((s, i) => {
      const c = nodes[i]!.capacity;
      if (Math.abs(s.cpu - this.cpu[i]!) > 1e-6 || Math.abs(s.memoryMiB - this.mem[i]!) > 1e-6 || s.gpu !== this.gpu[i]) {
        throw new Error(`ledger drift on ${nodes[i]!.id}`);
      }
      if (s.cpu > c.cpu + EPSILON || s.memoryMiB > c.memoryMiB + EPSILON || s.gpu > c.gpu) over++;
    });
    return over;
  }

  /** Share of usable capacity in use, per resource. */
  utilisation(): Resources {
    const usable = this.cluster.nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.ready && !n.cordoned);
    const share = (used: Float64Array, k: keyof Resources) =>
      usable.reduce((s, { i }) => s + used[i]!, 0) / usable.reduce((s, { n }) => s + n.capacity[k], 0);
    return { cpu: share(this.cpu, 'cpu'), memoryMiB: share(this.mem, 'memoryMiB'), gpu: share(this.gpu, 'gpu') };
  }
}

/** The fewest bytes any node the pod fits on would fetch right now (exhaustive); undefined if none fits. */
export function fewestBytesNow(model: ClusterModel, cluster: SyntheticCluster, pod: PodDraw): number | undefined {
  if (model.warmNodeHasRoom(pod)) return 0;
  const image = cluster.images[pod.image]!;
  let best: number | undefined;
  for (let node = 0; node < cluster.nodes.length; node++) {
    if (!model.fits(node, pod)) continue;
    const bytes = model.bytesToFetch(node, image, pod.image);
    if (best === undefined || bytes < best) best = bytes;
  }
  return best;
}

/** Share of cpu and memory free after the pod lands, averaged. */
function freeShareAfter(model: ClusterModel, cluster: SyntheticCluster, node: number, pod: PodDraw): number {
  const c = cluster.nodes[node]!.capacity;
  return (
    ((c.cpu - model.cpu[node]! - pod.resources.cpu) / c.cpu + (c.memoryMiB - model.mem[node]! - pod.resources.memoryMiB) / c.memoryMiB) / 2
  );
}

/**
 * The best-achievable reference: on its own copy of the cluster, each pod
 * goes to a node that holds its digest whenever any such node has room
 * (the roomiest of them), otherwise to the feasible node with the fewest
 * bytes to fetch (ties: the roomiest). Exhaustive over all nodes, plain sets,
 * no engine code. Greedy per pod: it knows nothing of later pods.
 */
export function bestAchievableNode(model: ClusterModel, cluster: SyntheticCluster, pod: PodDraw): number | undefined {
  let best: number | undefined;
  let bestRoom = -Infinity;
  for (const node of model.holders[pod.image]!) {
    if (!model.fits(node, pod)) continue;
    const room = freeShareAfter(model, cluster, node, pod);
    if (room > bestRoom || (room === bestRoom && node < best!)) [best, bestRoom] = [node, room];
  }
  if (best !== undefined) return best;
  const image = cluster.images[pod.image]!;
  let bestBytes = Infinity;
  for (let node = 0; node < cluster.nodes.length; node++) {
    if (!model.fits(node, pod)) continue;
    const bytes = model.bytesToFetch(node, image, pod.image);
    const room = freeShareAfter(model, cluster, node, pod);
    if (bytes < bestBytes || (bytes === bestBytes && room > bestRoom)) [best, bestBytes, bestRoom] = [node, bytes, room];
  }
  return best;
}
