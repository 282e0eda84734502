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
 * checkpoint (bit 1) and digest (bit 0) above everything, then fewer KiB to
 * fetch, then more room left after placement (12 bits). All below 2^45, so
 * exact in a double.
 */
export function warmScore(checkpoint: boolean, digest: boolean, bytesToFetch: number, freeShareAfter: number): number {
  const tier = (checkpoint ? 2 : 0) + (digest ? 1 : 0);
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
    let word = feasibleBits[w] & (digestWord | checkpointWord);
    while (word !== 0) {
      const low = word & -word;
      const slot = (w << 5) | (31 - Math.clz32(low));
      word ^= low;
      const digest = (digestWord & low) !== 0;
      const fetch = digest ? 0 : fetchOn(slot, false);
      top.offer(slot, warmScore((checkpointWord & low) !== 0, digest, fetch, table.freeShareAfter(slot, req.resources)));
      warm++;
    }
  }
  const presentCounted = warm < limit;
  if (presentCounted) {
    present.fill(0, 0, table.highWater);
    for (const layer of layers) indexes.layers.addTo(layer.digest, layer.sizeBytes, present, feasibleBits, digestBits);
    for (let i = 0; i < feasibleCount; i++) {
      const slot = feasible[i];
      if (bitIsSet(digestBits, slot) || bitIsSet(checkpointBits, slot)) continue;
      const fetch = Math.max(0, totalBytes - present[slot]);
      top.offer(slot, warmScore(false, false, fetch, table.freeShareAfter(slot, req.resources)));
    }
  }
  const out: PlacementCandidate[] = [];
  for (let i = 0; i < top.size; i++) {
    const slot = top.slots[i];
    const digest = bitIsSet(digestBits, slot);
    const bytesToFetch = fetchOn(slot, presentCounted && !bitIsSet(checkpointBits, slot));
    const why = warmWhy({
      checkpoint: bitIsSet(checkpointBits, slot),
      digest,
      totalBytes,
      bytesToFetch,
      freeShareAfter: table.freeShareAfter(slot, req.resources),
    });
    out.push({ node: table.ids[slot], score: top.scores[i], why, bytesToFetch });
  }
  return out;
}
