import { performance } from 'node:perf_hooks';
import { PlacementIndex, type PlacementStrategy, type PodPlacementRequest } from '@warmpod/domain';
import type { PodDraw, SyntheticCluster } from './scheduler-cluster';
import { bestAchievableNode, ClusterModel, fewestBytesNow } from './scheduler-sim';

/** What one pass of the pod sequence through one placement rule produced. */
export interface TrajectoryResult {
  name: string;
  placed: number;
  unplaced: number;
  /** Pods placed on a node that already held their digest. */
  hits: number;
  /** Pods placed elsewhere although a node holding the digest had room at that moment. */
  missedWarm: number;
  bytesFetched: number;
  /** Sum over placed pods of the fewest bytes any feasible node would have fetched at that moment (when asked for). */
  fewestBytesSum: number;
  /** Engine time only (plan + allocation and cache updates), ms; 0 for the reference. */
  engineMs: number;
  buildMs: number;
  /** Plan latencies, µs, for percentiles. */
  planMicros: number[];
  overcommits: number;
  /** Engine-reported bytes to fetch that disagree with the model's count. */
  bytesMismatches: number;
  /** Node chosen per pod (-1: unplaced), to check runs repeat exactly. */
  choices: Int32Array;
  utilisation: { cpu: number; memoryMiB: number; gpu: number };
}

export type Chooser = { kind: 'engine'; strategy: PlacementStrategy; seed: number } | { kind: 'best-achievable' };

const nodeNumber = (id: string) => Number(id.slice('node-'.length));

/**
 * Places the whole pod sequence on a fresh copy of the cluster. Pods end after
 * their lifetime (counted in placements); a pulled image stays in the node's
 * cache. The model checks every choice independently of the engine; with
 * `perDecisionBest` it also finds, exhaustively, the fewest bytes any feasible
 * node would have fetched for each pod in this run's own state.
 */
export function runTrajectory(cluster: SyntheticCluster, chooser: Chooser, options: { perDecisionBest?: boolean } = {}): TrajectoryResult {
  const model = new ClusterModel(cluster);
  const { images, nodes, pods } = cluster;
  let index: PlacementIndex | undefined;
  let buildMs = 0;
  if (chooser.kind === 'engine') {
    const t0 = performance.now();
    index = new PlacementIndex({ seed: chooser.seed, nodeStatusView: chooser.strategy === 'imageLocality' });
    for (const n of nodes) {
      index.upsertNode({
        id: n.id,
        ready: n.ready,
        cordoned: n.cordoned,
        labels: n.labels,
        capacity: n.capacity,
        allocated: n.background,
        images: n.cache.map((i) => images[i]!),
        checkpointKeys: [],
      });
    }
    buildMs = performance.now() - t0;
  }
  const endsAt: number[][] = Array.from({ length: pods.length }, () => []);
  const result: TrajectoryResult = {
    name: chooser.kind === 'engine' ? chooser.strategy : 'best achievable',
    placed: 0,
    unplaced: 0,
    hits: 0,
    missedWarm: 0,
    bytesFetched: 0,
    fewestBytesSum: 0,
    engineMs: 0,
    buildMs,
    planMicros: [],
    overcommits: 0,
    bytesMismatches: 0,
    choices: new Int32Array(pods.length).fill(-1),
    utilisation: { cpu: 0, memoryMiB: 0, gpu: 0 },
  };
  for (let i = 0; i < pods.length; i++) {
    for (const ended of endsAt[i]!) {
      const node = model.end(ended);
      if (node !== undefined && index) result.engineMs += timed(() => index.setAllocated(nodes[node]!.id, model.allocated(node)));
    }
    const pod = pods[i]!;
    const image = images[pod.image]!;
    const warmHadRoom = model.warmNodeHasRoom(pod);
    const fewest = options.perDecisionBest ? fewestBytesNow(model, cluster, pod) : undefined;
    let node: number | undefined;
    let reportedBytes: number | undefined;
    if (index && chooser.kind === 'engine') {
      const t0 = performance.now();
      const ranking = index.plan(request(pod, cluster), { limit: 8, strategy: chooser.strategy });
      const micros = (performance.now() - t0) * 1000;
      result.engineMs += micros / 1000;
      result.planMicros.push(micros);
      const best = ranking.candidates[0];
      if (best) [node, reportedBytes] = [nodeNumber(best.node), best.bytesToFetch];
    } else {
      node = bestAchievableNode(model, cluster, pod);
    }
    if (node === undefined) {
      result.unplaced++;
      continue;
    }
    const bytes = model.bytesToFetch(node, image, pod.image);
    const hit = model.cached[node]!.has(pod.image);
    if (reportedBytes !== undefined && reportedBytes !== bytes) result.bytesMismatches++;
    result.placed++;
    result.choices[i] = node;
    result.bytesFetched += bytes;
    result.fewestBytesSum += fewest ?? 0;
    if (hit) result.hits++;
    else if (warmHadRoom) result.missedWarm++;
    model.place(i, node, pod);
    const end = i + pod.lifetime;
    if (end < pods.length) endsAt[end]!.push(i);
    if (index) {
      const id = nodes[node]!.id;
      result.engineMs += timed(() => {
        index.setAllocated(id, model.allocated(node));
        if (!hit) index.addImage(id, image);
      });
    }
  }
  result.overcommits = model.violations + model.recountOvercommits();
  result.utilisation = model.utilisation();
  return result;
}

function request(pod: PodDraw, cluster: SyntheticCluster): PodPlacementRequest {
  const image = cluster.images[pod.image]!;
  return { digest: image.digest, layers: image.layers, resources: pod.resources, nodeSelector: pod.nodeSelector };
}

function timed(work: () => void): number {
  const t0 = performance.now();
  work();
  return performance.now() - t0;
}
