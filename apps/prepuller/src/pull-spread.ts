import { hasAllBlobs, isInFlight, isReadyOn, type PrepullNode } from '@warmpod/store';
import { pullOf, type PullLookup } from './desired-state';

/** How the first copies of a digest spread: a tree through the nodes, not a star on the registry. */
export interface SpreadSettings {
  /** Pulls of a digest no node holds yet: these fetch it from the registry. */
  seeds: number;
  /** Pulls in flight per node that holds the digest: each takes its blobs from the holders. */
  fanout: number;
}

/**
 * Holds back pulls so that registry egress stays near one copy per layer:
 * while no node holds a digest only `seeds` pulls of it run (from the
 * registry); once `h` nodes hold it (ready, or every blob fetched while it
 * still unpacks), up to `h * fanout` run, and those nodes ask the holders
 * first. The candidates left out wait for the next pass (a
 * pull ending wakes it). Order within a digest is kept.
 */
export function spreadFirstCopies<T extends { node: string; digest: string }>(
  candidates: readonly T[],
  nodes: ReadonlyMap<string, PrepullNode>,
  pulls: PullLookup,
  s: SpreadSettings,
): T[] {
  const room = new Map<string, number>();
  const roomFor = (digest: string): number => {
    let left = room.get(digest);
    if (left === undefined) {
      let holders = 0;
      let inFlight = 0;
      for (const node of nodes.values()) {
        const pull = pullOf(pulls, node.id, digest);
        if (isReadyOn(node, digest, pull) || hasAllBlobs(pull)) holders++;
        else if (isInFlight(pull)) inFlight++;
      }
      left = (holders === 0 ? s.seeds : holders * s.fanout) - inFlight;
    }
    return left;
  };
  const out: T[] = [];
  for (const c of candidates) {
    const left = roomFor(c.digest);
    room.set(c.digest, left - 1);
    if (left > 0) out.push(c);
  }
  return out;
}
