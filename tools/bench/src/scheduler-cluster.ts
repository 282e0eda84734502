import { seededRandom, type CachedImage, type ImageLayer, type Resources } from '@warmpod/domain';

/**
 * The synthetic cluster of `npm run bench:scheduler`: everything drawn from
 * one seeded generator, so every run (and every strategy in a run) sees the
 * same nodes, caches and pod sequence.
 */
export const CLUSTER_SHAPE = {
  nodes: 5_000,
  images: 1_000,
  baseFamilies: 20,
  gpuBaseFamilies: 6,
  gpuImageShare: 0.2,
  pods: 20_000,
  zipfS: 1.1,
  cachedImagesPerNode: [20, 80] as const,
  gpuNodeShare: 0.12,
  notReadyShare: 0.004,
  cordonedShare: 0.004,
  zoneSelectorShare: 0.15,
  /** Mean pod lifetime, in placements: demand turns over about five times in a run. */
  meanLifetime: 4_000,
  /** Running demand is this share of the capacity left by background workloads. */
  targetUtilisation: 0.8,
};

const MB = 1_000_000;
const GB = 1_000_000_000;
const GIB_MIB = 1024;
const ZONES = ['a', 'b', 'c'];

export interface SyntheticImage extends CachedImage {
  gpu: boolean;
  family: number;
}

export interface SyntheticNode {
  id: string;
  ready: boolean;
  cordoned: boolean;
  labels: Record<string, string>;
  capacity: Resources;
  /** Capacity held by workloads that are there before the benchmark starts. */
  background: Resources;
  /** Indexes into `images`. */
  cache: number[];
}

export interface PodDraw {
  image: number;
  resources: Resources;
  nodeSelector: Record<string, string>;
  /** The pod ends this many placements after its own (demand turns over). */
  lifetime: number;
}

export interface SyntheticCluster {
  images: SyntheticImage[];
  nodes: SyntheticNode[];
  pods: PodDraw[];
}

/** Samples ranks 0..n-1 with probability proportional to (rank+1)^-s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += Math.pow(k + 1, -s);
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const logUniform = (random: () => number, lo: number, hi: number) => Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo)));
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const fakeDigest = (kind: number, n: number) => `sha256:${kind.toString(16).padStart(8, '0')}${n.toString(16).padStart(56, '0')}`;

/** Splits `bytes` into `parts` layers of random, uneven sizes. */
function splitLayers(random: () => number, bytes: number, parts: number, kind: number, next: () => number): ImageLayer[] {
  const weights = Array.from({ length: parts }, () => 0.2 + random());
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => ({ digest: fakeDigest(kind, next()), sizeBytes: Math.max(1, Math.round((bytes * w) / total)) }));
}

function makeImages(random: () => number): SyntheticImage[] {
  const shape = CLUSTER_SHAPE;
  let layerSeq = 0;
  const nextLayer = () => layerSeq++;
  // Base images (OS + runtime, or CUDA stacks) whose layers many images share.
  const bases = Array.from({ length: shape.baseFamilies }, (_, f) => {
    const gpu = f < shape.gpuBaseFamilies;
    const bytes = gpu ? logUniform(random, 3 * GB, 9 * GB) : logUniform(random, 30 * MB, 1.2 * GB);
    return { gpu, layers: splitLayers(random, bytes, gpu ? 3 + Math.floor(random() * 3) : 2 + Math.floor(random() * 3), 1, nextLayer) };
  });
  const gpuFamilies = zipfSampler(shape.gpuBaseFamilies, 1, random);
  const cpuFamilies = zipfSampler(shape.baseFamilies - shape.gpuBaseFamilies, 1, random);
  const images: SyntheticImage[] = [];
  for (let i = 0; i < shape.images; i++) {
    const gpu = random() < shape.gpuImageShare;
    const family = gpu ? gpuFamilies() : shape.gpuBaseFamilies + cpuFamilies();
    const base = bases[family]!;
    const baseBytes = base.layers.reduce((s, l) => s + l.sizeBytes, 0);
    const own = gpu ? logUniform(random, 200 * MB, 12 * GB) : logUniform(random, 15 * MB, 4 * GB);
    const total = Math.min(20 * GB, Math.max(50 * MB, baseBytes + own));
    const layers = [...base.layers, ...splitLayers(random, Math.max(MB, total - baseBytes), 1 + Math.floor(random() * 5), 2, nextLayer)];
    const sizeBytes = layers.reduce((s, l) => s + l.sizeBytes, 0);
    images.push({ digest: fakeDigest(3, i), sizeBytes, layers, gpu, family });
  }
  return images;
}

/** Popularity: a seeded permutation of images over Zipf ranks, so rank is independent of size. */
function popularity(random: () => number, images: SyntheticImage[]): number[] {
  const order = images.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function makeNodes(random: () => number, images: SyntheticImage[], byRank: number[]): SyntheticNode[] {
  const shape = CLUSTER_SHAPE;
  const cpuByRank = byRank.filter((i) => !images[i]!.gpu);
  const gpuByRank = byRank.filter((i) => images[i]!.gpu);
  const rankCpu = zipfSampler(cpuByRank.length, shape.zipfS, random);
  const rankGpu = zipfSampler(gpuByRank.length, shape.zipfS, random);
  const cpuShapes: Array<[number, number]> = [
    [32, 128],
    [48, 192],
    [64, 256],
    [96, 384],
    [96, 512],
  ];
  const nodes: SyntheticNode[] = [];
  for (let n = 0; n < shape.nodes; n++) {
    const gpuNode = random() < shape.gpuNodeShare;
    const gpus = gpuNode ? pick(random, [4, 8, 8]) : 0;
    const [cpu, memGiB] = gpuNode ? [gpus * 12, gpus * 64] : pick(random, cpuShapes);
    const r = random();
    const want = shape.cachedImagesPerNode[0] + Math.floor(random() * (shape.cachedImagesPerNode[1] - shape.cachedImagesPerNode[0] + 1));
    const cache = new Set<number>();
    // A busy cluster's caches follow demand: each pool only ever ran its own kind of image.
    for (let tries = 0; cache.size < want && tries < want * 50; tries++) cache.add(gpuNode ? gpuByRank[rankGpu()]! : cpuByRank[rankCpu()]!);
    nodes.push({
      id: `node-${String(n).padStart(4, '0')}`,
      ready: r >= shape.notReadyShare,
      cordoned: r >= shape.notReadyShare && r < shape.notReadyShare + shape.cordonedShare,
      labels: { zone: ZONES[n % ZONES.length]!, pool: gpuNode ? 'gpu' : 'cpu' },
      capacity: { cpu, memoryMiB: memGiB * GIB_MIB, gpu: gpus },
      background: { cpu: 0, memoryMiB: 0, gpu: 0 },
      cache: [...cache],
    });
  }
  return nodes;
}

function podResources(random: () => number, image: SyntheticImage): Resources {
  if (image.gpu) {
    const gpu = pick(random, [1, 1, 1, 1, 1, 1, 1, 2, 2, 4]);
    return { cpu: 6 * gpu, memoryMiB: 48 * GIB_MIB * gpu, gpu };
  }
  const cpu = pick(random, [0.5, 1, 1, 2, 2, 2, 4, 4, 8]);
  return { cpu, memoryMiB: cpu * pick(random, [2, 4, 4, 8]) * GIB_MIB, gpu: 0 };
}

/**
 * Background workloads (there before the benchmark) take most of each node,
 * unevenly, leaving free in total what the benchmark's running pods need at
 * `targetUtilisation`: running demand = pods' share x mean lifetime x mean
 * request. GPU nodes keep cpu and memory in step with their free GPUs.
 */
function fillBackground(random: () => number, nodes: SyntheticNode[], pods: Array<Omit<PodDraw, 'lifetime'>>): void {
  const { meanLifetime, targetUtilisation } = CLUSTER_SHAPE;
  const running = (k: keyof Resources, gpu: boolean) =>
    (pods.filter((p) => p.resources.gpu > 0 === gpu).reduce((s, p) => s + p.resources[k], 0) / pods.length) * meanLifetime;
  const usable = nodes.filter((n) => n.ready && !n.cordoned);
  const gpuNodes = usable.filter((n) => n.capacity.gpu > 0);
  const cpuNodes = usable.filter((n) => n.capacity.gpu === 0);
  // Uneven room: most nodes nearly full, about a third with real room.
  const weight = new Map(nodes.map((n) => [n.id, random() < 0.35 ? 0.5 - 2 * Math.log(1 - random()) : 0.1 * random()]));
  const gpuShare = running('gpu', true) / targetUtilisation / gpuNodes.reduce((s, n) => s + n.capacity.gpu * weight.get(n.id)!, 0);
  for (const n of nodes.filter((x) => x.capacity.gpu > 0)) {
    const freeGpu = Math.min(n.capacity.gpu, Math.round(gpuShare * n.capacity.gpu * weight.get(n.id)!));
    const freeShare = freeGpu / n.capacity.gpu + 0.04;
    n.background = {
      cpu: Math.max(0, n.capacity.cpu - Math.ceil(n.capacity.cpu * freeShare)),
      memoryMiB: Math.max(0, n.capacity.memoryMiB - Math.ceil((n.capacity.memoryMiB * freeShare) / GIB_MIB) * GIB_MIB),
      gpu: n.capacity.gpu - freeGpu,
    };
  }
  for (const k of ['cpu', 'memoryMiB'] as const) {
    const share = running(k, false) / targetUtilisation / cpuNodes.reduce((s, n) => s + n.capacity[k] * weight.get(n.id)!, 0);
    const step = k === 'cpu' ? 0.5 : GIB_MIB;
    for (const n of nodes.filter((x) => x.capacity.gpu === 0)) {
      const free = Math.min(n.capacity[k], Math.round((share * n.capacity[k] * weight.get(n.id)!) / step) * step);
      n.background[k] = n.capacity[k] - free;
    }
  }
}

export function syntheticCluster(seed: number): SyntheticCluster {
  const random = seededRandom(seed);
  const images = makeImages(random);
  const byRank = popularity(random, images);
  const nodes = makeNodes(random, images, byRank);
  const rank = zipfSampler(images.length, CLUSTER_SHAPE.zipfS, random);
  const drafts = Array.from({ length: CLUSTER_SHAPE.pods }, () => {
    const image = byRank[rank()]!;
    // GPU nodes are kept for GPU pods, as a NoSchedule taint would in Kubernetes: CPU pods select the cpu pool.
    const nodeSelector: Record<string, string> = images[image]!.gpu ? {} : { pool: 'cpu' };
    if (random() < CLUSTER_SHAPE.zoneSelectorShare) nodeSelector['zone'] = pick(random, ZONES);
    return { image, resources: podResources(random, images[image]!), nodeSelector };
  });
  fillBackground(random, nodes, drafts);
  const mean = CLUSTER_SHAPE.meanLifetime;
  const pods = drafts.map((d) => ({ ...d, lifetime: Math.max(1, Math.round(-Math.log(1 - random()) * mean)) }));
  return { images, nodes, pods };
}
