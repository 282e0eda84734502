import { REJECTION_REASONS, type PlacementRanking } from './types';

/** "3 nodes: insufficient gpu; 2 nodes: not ready", most frequent first. */
export function rejectionSummary(ranking: PlacementRanking): string {
  const parts = REJECTION_REASONS.map((reason, order) => ({ reason, order, count: ranking.rejections[reason] }))
    .filter((p) => p.count > 0)
    .sort((a, b) => b.count - a.count || a.order - b.order)
    .map(({ reason, count }) => {
      const label =
        reason === 'missing capability' && ranking.requiredCapability ? `missing capability ${ranking.requiredCapability}` : reason;
      return `${count} ${count === 1 ? 'node' : 'nodes'}: ${label}`;
    });
  if (parts.length > 0) return parts.join('; ');
  return ranking.feasible > 0 ? 'no node rejected' : 'no nodes registered';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${bytes} B`;
}

export interface WarmFacts {
  checkpoint: boolean;
  /** Bytes of a compatible checkpoint the node would fetch from the registry (its runtime matches). */
  checkpointToFetch?: number;
  digest: boolean;
  totalBytes: number;
  bytesToFetch: number;
  freeShareAfter: number;
}

/** One short sentence saying which tier of rule 2 put this node where it is. */
export function warmWhy(f: WarmFacts): string {
  if (f.checkpoint) {
    return f.digest
      ? 'compatible checkpoint on the node (restore), pinned digest in cache'
      : `compatible checkpoint on the node (restore), ${formatBytes(f.bytesToFetch)} of image to fetch`;
  }
  if (f.checkpointToFetch !== undefined) {
    const image = f.digest ? 'pinned digest in cache' : `${formatBytes(f.bytesToFetch)} of image to fetch`;
    return `compatible checkpoint in the registry (fetch ${formatBytes(f.checkpointToFetch)}, restore), ${image}`;
  }
  if (f.digest) return 'pinned digest already in node cache';
  const present = f.totalBytes - f.bytesToFetch;
  if (present > 0 && f.totalBytes > 0) {
    const pct = Math.max(1, Math.min(99, Math.floor((100 * present) / f.totalBytes)));
    return `${pct}% of the image's bytes already on the node (shared layers), ${formatBytes(f.bytesToFetch)} to fetch`;
  }
  const free = Math.round(f.freeShareAfter * 100);
  return f.totalBytes > 0
    ? `no layer of the image on the node; least allocated (${free}% free after placement)`
    : `least allocated (${free}% free after placement)`;
}
