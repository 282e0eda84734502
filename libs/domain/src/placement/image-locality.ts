import type { Resources } from '../pod-spec';
import { bitIsSet, NodeSets } from './node-sets';
import type { NodeTable } from './node-table';
import { TopCandidates } from './top-candidates';
import type { CachedImage } from './types';

/**
 * The comparison baseline: kube-scheduler's default scoring as far as it
 * concerns a pod with one container and no affinities, taints or volumes.
 *
 * - ImageLocality (pkg/scheduler/framework/plugins/imagelocality): for each
 *   of the pod's images listed in the node's status, size x (nodes listing it /
 *   all nodes); the sum is clamped to [23 MiB, 1000 MiB x containers] and
 *   mapped linearly onto 0-100. With one container per pod this is the
 *   per-image clamp. It matches by image, not by layer: shared base layers
 *   earn nothing.
 * - The kubelet lists only the node's 50 largest images in node status
 *   (`nodeStatusMaxImages`, default 50): a node holding the image as its 51st
 *   largest looks to the scheduler as if it did not have it.
 * - NodeResourcesFit with the LeastAllocated strategy (cpu and memory, weight
 *   1 each) and NodeResourcesBalancedAllocation, as in the default profile.
 * - Plugin weights as in the default profile: 1 each, total = IL + LA + BA.
 *   Ties are broken uniformly at random, as kube-scheduler's selectHost does.
 *   All feasible nodes are scored (percentageOfNodesToScore = 100; the
 *   default would score only ~10% of 5,000 nodes, which would be weaker).
 */
export const NODE_STATUS_MAX_IMAGES = 50;
export const MIB = 1024 * 1024;
export const IMAGE_LOCALITY_MIN = 23 * MIB;
export const IMAGE_LOCALITY_MAX_PER_CONTAINER = 1000 * MIB;
export const KUBE_DEFAULT_WEIGHTS = { imageLocality: 1, leastAllocated: 1, balancedAllocation: 1 } as const;
const MAX_NODE_SCORE = 100;

/** ImageLocality's score for one node, 0-100 (integer, as in Go's int64 maths). */
export function imageLocalityScore(
  images: ReadonlyArray<{ sizeBytes: number; nodesListing: number }>,
  totalNodes: number,
  containers = 1,
): number {
  let sum = 0;
  for (const image of images) sum += Math.trunc(image.sizeBytes * (image.nodesListing / Math.max(totalNodes, 1)));
  const max = IMAGE_LOCALITY_MAX_PER_CONTAINER * containers;
  const clamped = Math.min(max, Math.max(IMAGE_LOCALITY_MIN, sum));
  return Math.trunc((MAX_NODE_SCORE * (clamped - IMAGE_LOCALITY_MIN)) / (max - IMAGE_LOCALITY_MIN));
}

/** NodeResourcesFit LeastAllocated: free share of cpu and memory after the pod, 0-100. */
export function leastAllocatedScore(capacity: Resources, usedWithPod: Resources): number {
  const one = (cap: number, used: number) => (cap <= 0 || used > cap ? 0 : Math.trunc(((cap - used) * MAX_NODE_SCORE) / cap));
  return Math.trunc((one(capacity.cpu, usedWithPod.cpu) + one(capacity.memoryMiB, usedWithPod.memoryMiB)) / 2);
}

/** NodeResourcesBalancedAllocation: 100 when cpu and memory are equally used, 0-100. */
export function balancedAllocationScore(capacity: Resources, usedWithPod: Resources): number {
  const fraction = (cap: number, used: number) => (cap <= 0 ? 1 : Math.min(1, used / cap));
  const std = Math.abs(fraction(capacity.cpu, usedWithPod.cpu) - fraction(capacity.memoryMiB, usedWithPod.memoryMiB)) / 2;
  return Math.trunc((1 - std) * MAX_NODE_SCORE);
}

/**
 * What node status would show: per node, its 50 largest images; per image,
 * how many nodes list it. Kept up to date as node caches change.
 */
export class NodeImageStatus {
  /** digest -> nodes listing it in status. */
  readonly listing: NodeSets;
  private readonly listed: Array<Set<string> | undefined> = [];

  constructor(slots: number) {
    this.listing = new NodeSets(slots);
  }

  /** Recomputes the node's status list from its whole cache. */
  update(slot: number, cache: Iterable<CachedImage>): void {
    const largest = [...cache]
      .sort((a, b) => b.sizeBytes - a.sizeBytes || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
      .slice(0, NODE_STATUS_MAX_IMAGES);
    const next = new Set(largest.map((i) => i.digest));
    const previous = this.listed[slot];
    if (previous) for (const d of previous) if (!next.has(d)) this.listing.remove(d, slot);
    for (const d of next) if (!previous?.has(d)) this.listing.add(d, slot);
    this.listed[slot] = next;
  }

  clear(slot: number): void {
    for (const d of this.listed[slot] ?? []) this.listing.remove(d, slot);
    this.listed[slot] = undefined;
  }

  lists(slot: number, digest: string): boolean {
    return this.listed[slot]?.has(digest) ?? false;
  }
}

export interface KubeRankingInput {
  table: NodeTable;
  feasibleCount: number;
  resources: Resources;
  digest: string;
  /** The image's size as nodes report it (0 when no node has it). */
  imageSizeBytes: number;
  limit: number;
  status: NodeImageStatus;
  random: () => number;
}

/** Ranks feasible nodes as kube-scheduler's default profile would; returns slots and scores, best first. */
export function rankImageLocality(input: KubeRankingInput): Array<{ slot: number; score: number; why: string }> {
  const { table, feasibleCount, resources, limit, status, random } = input;
  const listing = status.listing.bits(input.digest);
  const listedScore = imageLocalityScore(
    [{ sizeBytes: input.imageSizeBytes, nodesListing: status.listing.count(input.digest) }],
    table.size,
  );
  const top = new TopCandidates(limit, (slot) => table.ids[slot]);
  const { capCpu, capMem, freeCpu, freeMem, feasible } = table;
  const { imageLocality: wIL, leastAllocated: wLA, balancedAllocation: wBA } = KUBE_DEFAULT_WEIGHTS;
  const parts = (slot: number) => {
    const capacity = { cpu: capCpu[slot], memoryMiB: capMem[slot], gpu: 0 };
    const used = {
      cpu: capCpu[slot] - freeCpu[slot] + resources.cpu,
      memoryMiB: capMem[slot] - freeMem[slot] + resources.memoryMiB,
      gpu: 0,
    };
    const il = bitIsSet(listing, slot) ? listedScore : 0;
    return { il, la: leastAllocatedScore(capacity, used), ba: balancedAllocationScore(capacity, used) };
  };
  for (let i = 0; i < feasibleCount; i++) {
    const slot = feasible[i];
    // The same arithmetic as the exported scorers, inlined for the scan.
    const cpuCap = capCpu[slot];
    const memCap = capMem[slot];
    const cpuLeft = freeCpu[slot] - resources.cpu;
    const memLeft = freeMem[slot] - resources.memoryMiB;
    const la = Math.trunc(
      ((cpuCap <= 0 || cpuLeft < 0 ? 0 : Math.trunc((cpuLeft * 100) / cpuCap)) +
        (memCap <= 0 || memLeft < 0 ? 0 : Math.trunc((memLeft * 100) / memCap))) /
        2,
    );
    const cpuFraction = cpuCap <= 0 ? 1 : Math.min(1, (cpuCap - cpuLeft) / cpuCap);
    const memFraction = memCap <= 0 ? 1 : Math.min(1, (memCap - memLeft) / memCap);
    const ba = Math.trunc((1 - Math.abs(cpuFraction - memFraction) / 2) * 100);
    const il = listing !== undefined && slot >>> 5 < listing.length && (listing[slot >>> 5] & (1 << (slot & 31))) !== 0 ? listedScore : 0;
    // Integer scores: the random fraction only orders equal totals, uniformly.
    top.offer(slot, wIL * il + wLA * la + wBA * ba + random() * 0.5);
  }
  const out: Array<{ slot: number; score: number; why: string }> = [];
  for (let i = 0; i < top.size; i++) {
    const slot = top.slots[i];
    const { il, la, ba } = parts(slot);
    const listed = bitIsSet(listing, slot) ? 'image in node status' : 'image not in node status';
    out.push({
      slot,
      score: Math.floor(top.scores[i]),
      why: `kube default scoring: ImageLocality ${il} (${listed}) + LeastAllocated ${la} + BalancedAllocation ${ba}`,
    });
  }
  return out;
}
