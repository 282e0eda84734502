import { hasAllBlobs, isInFlight, isReadyOn, type ImageLayers, type PrepullNode } from '@warmpod/store';
import { pullOf, type PullLookup } from './desired-state';

/** How the first copies of a digest spread: a tree through the nodes, not a star on the registry. */
export interface SpreadSettings {
  /** Pulls of a digest no node holds yet: these fetch it from the registry. */
  seeds: number;
  /** Pulls in flight per node that holds the digest: each takes its blobs from the holders. */
  fanout: number;
  /**
   * A node that holds some of the image's layers and lacks at most this many
   * bytes of it (a rebuild that changed its top layers) pulls it at once:
   * waiting a round for a peer copy would cost more than the bytes. 0: never.
   */
  directBytes: number;
}

/**
 * Bytes of `image` the node lacks (its config included), when the node holds
 * at least one of its layers; undefined when it holds none or the image's
 * layers are unknown.
 */
export function missingBytes(node: Pick<PrepullNode, 'cachedImages'>, image: ImageLayers | undefined): number | undefined {
  if (!image) return undefined;
  const held = new Set((node.cachedImages ?? []).flatMap((i) => i.layers.map((l) => l.digest)));
  if (!image.layers.some((l) => held.has(l.digest))) return undefined;
  const layerBytes = image.layers.reduce((sum, l) => sum + l.sizeBytes, 0);
  const own = Math.max(0, image.sizeBytes - layerBytes);
  return image.layers.reduce((sum, l) => (held.has(l.digest) ? sum : sum + l.sizeBytes), own);
}

/**
 * Holds back pulls so that registry egress stays near one copy per layer:
 * while no node holds a digest only `seeds` pulls of it run (from the
 * registry); once `h` nodes hold it (ready, or every blob fetched while it
 * still unpacks), up to `h * fanout` run, and those nodes ask the holders
 * first. A node that lacks only a few bytes of the image (`directBytes`,
 * per `images`, the layers recorded at pin time) is not held back. The
 * candidates left out wait for the next pass (a pull ending wakes it).
 * Order within a digest is kept.
 */
export function spreadFirstCopies<T extends { node: string; digest: string }>(
  candidates: readonly T[],
  nodes: ReadonlyMap<string, PrepullNode>,
  pulls: PullLookup,
  s: SpreadSettings,
  images: ReadonlyMap<string, ImageLayers> = new Map(),
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
    const node = nodes.get(c.node);
    const lacking = node ? missingBytes(node, images.get(c.digest)) : undefined;
    if (lacking !== undefined && lacking <= s.directBytes) {
      out.push(c);
      continue;
    }
    const left = roomFor(c.digest);
    room.set(c.digest, left - 1);
    if (left > 0) out.push(c);
  }
  return out;
}
