import type { NodeSets } from './node-sets';
import { bitIsSet } from './node-sets';
import type { NodeTable } from './node-table';
import { warmWhy } from './placement-reasons';
import { TopCandidates } from './top-candidates';
import type { ImageLayer, PlacementCandidate, PodPlacementRequest } from './types';

/** Bytes to fetch are ranked in KiB; a difference under 1 KiB falls through to spread. */
const MAX_FETCH_KIB = 2 ** 31 - 1;
const SPREAD_STEPS = 4096;
const FETCH_SHIFT = 2 ** 12;
const WARM_TIER_SHIFT = 2 ** 31;

export interface WarmIndexes {
  digests: NodeSets;
  layers: NodeSets;
  checkpoints: NodeSets;
  /** Runtime key -> nodes of that runtime (what a pushed checkpoint can be fetched and restored on). */
  runtimes: NodeSets;
  runtimeOf: ReadonlyArray<string | undefined>;
}

/** Nodes that could fetch a compatible checkpoint from the registry, and how many bytes it is on each. */
interface Fetchable {
  bits: Uint32Array | undefined;
  bytesOn(slot: number): number;
}

function fetchableCheckpoints(req: PodPlacementRequest, indexes: WarmIndexes): Fetchable {
  const bytes = new Map<string, number>();
  for (const f of req.fetchableCheckpoints ?? []) bytes.set(f.runtime, Math.min(bytes.get(f.runtime) ?? Infinity, f.sizeBytes));
  let bits: Uint32Array | undefined;
  for (const runtime of bytes.keys()) {
    const holders = indexes.runtimes.bits(runtime);
    if (!holders) continue;
    if (!bits || bits.length < holders.length) {
      const grown = new Uint32Array(holders.length);
      if (bits) grown.set(bits);
      bits = grown;
    }
    for (let w = 0; w < holders.length; w++) bits[w] |= holders[w];
  }
  return { bits, bytesOn: (slot) => bytes.get(indexes.runtimeOf[slot] ?? '') ?? 0 };
}

/** A request's layers without repeats, and their total size. */
export function distinctLayers(layers: readonly ImageLayer[]): { layers: ImageLayer[]; totalBytes: number } {
  const out: ImageLayer[] = [];
  let totalBytes = 0;
  const seen = layers.length > 16 ? new Set<string>() : undefined;
  for (const layer of layers) {
    if (seen ? seen.has(layer.digest) : out.some((l) => l.digest === layer.digest)) continue;
    seen?.add(layer.digest);
    out.push(layer);
    totalBytes += layer.sizeBytes;
  }
  return { layers: out, totalBytes };
}

/**
 * Packs rule 2's tiers into one number that orders exactly like the rule:
 * a checkpoint on the node (bit 2), one it can fetch from the registry
 * (bit 1) and the digest (bit 0) above everything, then fewer KiB to fetch
 * (image and checkpoint), then more room left after placement (12 bits).
 * All below 2^46, so exact in a double.
 */
export function warmScore(
  checkpoint: boolean,
  digest: boolean,
  bytesToFetch: number,
  freeShareAfter: number,
  fetchableCheckpoint = false,
): number {
  const tier = (checkpoint ? 4 : 0) + (fetchableCheckpoint && !checkpoint ? 2 : 0) + (digest ? 1 : 0);
  const fetchKiB = Math.min(MAX_FETCH_KIB, Math.ceil(bytesToFetch / 1024));
  const spread = Math.min(SPREAD_STEPS - 1, Math.floor(freeShareAfter * SPREAD_STEPS));
  return (tier * WARM_TIER_SHIFT + (MAX_FETCH_KIB - fetchKiB)) * FETCH_SHIFT + spread;
}

/**
 * Ranks the feasible nodes of the last `table.filter` by rule 2, in two steps.
 * Warm nodes (holding the checkpoint or the digest) outrank every other node,
 * so when at least `limit` of them are feasible nothing else can enter the
 * list and bytes are never counted. Otherwise present bytes come from the
 * layer index: each of the request's layers adds its size to every feasible
 * node holding it (digest holders skipped), so the cost is the layers' holder
 * counts, not nodes x layers x lookups.
 */
export function rankWarm(
  table: NodeTable,
  feasibleCount: number,
  req: PodPlacementRequest,
  limit: number,
  indexes: WarmIndexes,
  present: Float64Array,
): PlacementCandidate[] {
  const { layers, totalBytes } = distinctLayers(req.layers);
  const digestBits = indexes.digests.bits(req.digest);
  const checkpointBits = req.checkpointKey === undefined ? undefined : indexes.checkpoints.bits(req.checkpointKey);
  const fetchable = fetchableCheckpoints(req, indexes);
  const fetchBits = fetchable.bits;
  /** Checkpoint bytes a node must fetch: none where it holds one. */
  const checkpointFetch = (slot: number): number =>
    bitIsSet(fetchBits, slot) && !bitIsSet(checkpointBits, slot) ? fetchable.bytesOn(slot) : 0;
  const fetchOn = (slot: number, presentCounted: boolean): number => {
    if (bitIsSet(digestBits, slot)) return 0;
    if (presentCounted) return Math.max(0, totalBytes - present[slot]);
    let have = 0;
    for (const layer of layers) if (indexes.layers.has(layer.digest, slot)) have += layer.sizeBytes;
    return Math.max(0, totalBytes - have);
  };
  const top = new TopCandidates(limit, (slot) => table.ids[slot]);
  const { feasibleBits, feasible } = table;
  const words = (table.highWater + 31) >>> 5;
  let warm = 0;
  for (let w = 0; w < words; w++) {
    const digestWord = digestBits !== undefined && w < digestBits.length ? digestBits[w] : 0;
    const checkpointWord = checkpointBits !== undefined && w < checkpointBits.length ? checkpointBits[w] : 0;
    const fetchWord = fetchBits !== undefined && w < fetchBits.length ? fetchBits[w] : 0;
    let word = feasibleBits[w] & (digestWord | checkpointWord | fetchWord);
    while (word !== 0) {
      const low = word & -word;
      const slot = (w << 5) | (31 - Math.clz32(low));
      word ^= low;
      const digest = (digestWord & low) !== 0;
      const fetch = digest ? 0 : fetchOn(slot, false);
      const local = (checkpointWord & low) !== 0;
      const remote = !local && (fetchWord & low) !== 0;
      const bytes = fetch + (remote ? fetchable.bytesOn(slot) : 0);
      top.offer(slot, warmScore(local, digest, bytes, table.freeShareAfter(slot, req.resources), remote));
      warm++;
    }
  }
  const presentCounted = warm < limit;
  if (presentCounted) {
    present.fill(0, 0, table.highWater);
    for (const layer of layers) indexes.layers.addTo(layer.digest, layer.sizeBytes, present, feasibleBits, digestBits);
    for (let i = 0; i < feasibleCount; i++) {
      const slot = feasible[i];
      if (bitIsSet(digestBits, slot) || bitIsSet(checkpointBits, slot) || bitIsSet(fetchBits, slot)) continue;
      const fetch = Math.max(0, totalBytes - present[slot]);
      top.offer(slot, warmScore(false, false, fetch, table.freeShareAfter(slot, req.resources)));
    }
  }
  const out: PlacementCandidate[] = [];
  for (let i = 0; i < top.size; i++) {
    const slot = top.slots[i];
    const digest = bitIsSet(digestBits, slot);
    const bytesToFetch = fetchOn(slot, presentCounted && !bitIsSet(checkpointBits, slot) && !bitIsSet(fetchBits, slot));
    const checkpointBytes = checkpointFetch(slot);
    const why = warmWhy({
      checkpoint: bitIsSet(checkpointBits, slot),
      ...(bitIsSet(fetchBits, slot) && !bitIsSet(checkpointBits, slot) ? { checkpointToFetch: checkpointBytes } : {}),
      digest,
      totalBytes,
      bytesToFetch,
      freeShareAfter: table.freeShareAfter(slot, req.resources),
    });
    out.push({
      node: table.ids[slot],
      score: top.scores[i],
      why,
      bytesToFetch,
      ...(checkpointBytes > 0 ? { checkpointBytesToFetch: checkpointBytes } : {}),
    });
  }
  return out;
}
