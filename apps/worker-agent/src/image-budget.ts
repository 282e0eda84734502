import { messageOf, type Logger } from '@warmpod/observability';
import { PodLocks } from './pod-locks';

/** A layer as the budget counts it: its blob, and its unpacked directory when it is on the node. */
export interface BudgetLayer {
  /** Blob digest. */
  digest: string;
  /** Compressed blob bytes (the blob stays in the node's layout, for peers). */
  sizeBytes: number;
  /** The unpacked directory's name, when known: images sharing a diff_id share the directory. */
  diffId?: string;
  /** Measured bytes of the unpacked directory; unknown before the layer is unpacked here. */
  unpackedBytes?: number;
}

/** An image as the budget counts it: its layers (shared ones are stored once) and its own bytes. */
export interface BudgetImage {
  digest: string;
  /** Manifest, config and layers: what a pull of it alone would fetch. */
  sizeBytes: number;
  layers: ReadonlyArray<BudgetLayer>;
}

export interface RoomRequest {
  budgetBytes: number;
  /** What the node's cache holds. */
  cached: readonly BudgetImage[];
  /** The image about to be pulled. */
  incoming: BudgetImage;
  /** Other pulls in flight on this node: they will land, so they count and cannot be evicted. */
  inflight: readonly BudgetImage[];
  /** Digests that must stay: used by pods on the node, or protected by pins. */
  held: ReadonlySet<string>;
  /** Last use of a digest (ms); 0 when never seen used. */
  lastUse(digest: string): number;
}

export type RoomPlan =
  { fits: true; evict: string[] } | { fits: false; needBytes: number; budgetBytes: number; heldBytes: number; reason: string };

/**
 * A layer not unpacked here yet (OCI gives no uncompressed size before the
 * config is read) is counted at its blob times the ratio the node measured
 * on the layers it holds (images on a node tend to be alike), kept within
 * these bounds; this one before anything is measured. Once unpacked, the measure counts.
 */
export const UNPACK_RATIO = { default: 2, min: 1, max: 4 } as const;

/** Unpacked over compressed bytes of the measured layers among `images`, within UNPACK_RATIO's bounds. */
export function unpackRatio(images: Iterable<BudgetImage>): number {
  let blob = 0;
  let unpacked = 0;
  const seen = new Set<string>();
  for (const image of images) {
    for (const l of image.layers) {
      if (l.unpackedBytes === undefined || seen.has(l.digest)) continue;
      seen.add(l.digest);
      blob += l.sizeBytes;
      unpacked += l.unpackedBytes;
    }
  }
  if (blob === 0) return UNPACK_RATIO.default;
  return Math.min(UNPACK_RATIO.max, Math.max(UNPACK_RATIO.min, unpacked / blob));
}

/**
 * Bytes on disk for a set of images: each shared blob once, each unpacked
 * layer directory once (by diff_id), plus every image's own manifest and
 * config. A layer's directory counts what it was measured to take; one not
 * unpacked here yet counts `ratio` times its blob (see UNPACK_RATIO).
 */
export function footprint(images: Iterable<BudgetImage>, ratio: number = UNPACK_RATIO.default): number {
  const unique = [...new Map([...images].map((i) => [i.digest, i])).values()];
  // A blob digest known (from a cached image) to unpack into a diff_id shares that directory.
  const diffIdOf = new Map<string, string>();
  for (const image of unique) for (const l of image.layers) if (l.diffId) diffIdOf.set(l.digest, l.diffId);
  const blobs = new Map<string, number>();
  const unpacked = new Map<string, { bytes: number; measured: boolean }>();
  let own = 0;
  for (const image of unique) {
    let layerBytes = 0;
    for (const l of image.layers) {
      blobs.set(l.digest, l.sizeBytes);
      layerBytes += l.sizeBytes;
      const key = diffIdOf.get(l.digest) ?? l.digest;
      const measured = l.unpackedBytes !== undefined;
      const known = unpacked.get(key);
      if (known?.measured && !measured) continue;
      unpacked.set(key, { bytes: l.unpackedBytes ?? Math.ceil(l.sizeBytes * ratio), measured });
    }
    own += Math.max(0, image.sizeBytes - layerBytes);
  }
  let total = own;
  for (const size of blobs.values()) total += size;
  for (const { bytes } of unpacked.values()) total += bytes;
  return total;
}

/**
 * Which cached digests to evict so the incoming image fits the budget:
 * least recently used first, never a held or in-flight one, and only as many
 * as needed. When even evicting every candidate is not enough, nothing is
 * evicted and the plan says why.
 */
export function planRoom(req: RoomRequest): RoomPlan {
  const landing = [req.incoming, ...req.inflight];
  const incomingDigests = new Set(landing.map((i) => i.digest));
  let kept = req.cached.filter((c) => !incomingDigests.has(c.digest));
  const ratio = unpackRatio(req.cached);
  const total = (): number => footprint([...kept, ...landing], ratio);
  if (total() <= req.budgetBytes) return { fits: true, evict: [] };

  const candidates = kept
    .filter((c) => !req.held.has(c.digest))
    .sort((a, b) => req.lastUse(a.digest) - req.lastUse(b.digest) || a.digest.localeCompare(b.digest));
  const evict: string[] = [];
  for (const candidate of candidates) {
    kept = kept.filter((c) => c.digest !== candidate.digest);
    evict.push(candidate.digest);
    if (total() <= req.budgetBytes) return { fits: true, evict };
  }
  const needBytes = footprint([req.incoming], ratio);
  const heldBytes = footprint(
    [...req.cached.filter((c) => req.held.has(c.digest) && c.digest !== req.incoming.digest), ...req.inflight],
    ratio,
  );
  return {
    fits: false,
    needBytes,
    budgetBytes: req.budgetBytes,
    heldBytes,
    reason: `image needs ${formatBytes(needBytes)}, budget ${formatBytes(req.budgetBytes)}, ${formatBytes(heldBytes)} held by running or pinned images`,
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** The image would not fit the node's disk budget even after evicting everything allowed. */
export class ImageBudgetError extends Error {
  override readonly name = 'ImageBudgetError';
}

export interface ImageBudgetDeps {
  budgetBytes: number;
  /** The node's cache as the budget needs it. */
  cache: {
    list(): Promise<BudgetImage[]>;
    remove(digest: string): Promise<void>;
  };
  /** Digests used by pods on this node (reserved, starting or running): what an eviction must keep. */
  inUse(): Promise<Set<string>>;
  /**
   * Digests of the pods reserved on this node, without asking the runtime: what
   * a pull that evicts nothing records as used (spawning `runc list` blocks the
   * agent's event loop for tens of ms, on every pull).
   */
  reservedUse(): Promise<Set<string>>;
  /** Digests the prepuller protects on this node (pins, rotation). */
  protectedDigests(): Promise<Set<string>>;
  lastUse: { get(digest: string): number; touch(digest: string): void; forget(digest: string): void };
  /** After an eviction: drop the digest's pull record for this node. */
  forgetPull(digest: string): Promise<void>;
  /** After evictions: the node's inventory changed. */
  onEvicted(): void;
  logger: Logger;
}

/** A place in the budget for one pull; give it back when the pull ends. */
export interface BudgetReservation {
  evicted: string[];
  release(): void;
}

/**
 * The node's disk budget for cached images. Before a pull it makes room by
 * evicting least-recently-used digests no pod uses and no pin protects;
 * pulls in flight count as landed. Decisions are made one at a time.
 */
export class ImageBudget {
  private readonly inflight = new Map<string, BudgetImage>();
  private readonly serial = new PodLocks();

  constructor(private readonly deps: ImageBudgetDeps) {}

  reserve(image: BudgetImage): Promise<BudgetReservation> {
    return this.serial.with('budget', () => this.reserveLocked(image));
  }

  private async reserveLocked(image: BudgetImage): Promise<BudgetReservation> {
    const d = this.deps;
    const cached = await d.cache.list();
    const room = (held: ReadonlySet<string>): RoomPlan =>
      planRoom({
        budgetBytes: d.budgetBytes,
        cached,
        incoming: image,
        inflight: [...this.inflight.values()].filter((i) => i.digest !== image.digest),
        held,
        lastUse: (digest) => d.lastUse.get(digest),
      });
    let plan = room(new Set());
    if (plan.fits && plan.evict.length === 0) {
      // Room without evicting: what pods use and pins protect only matters to an eviction. The uses
      // are still recorded for the LRU order, off the pull's path, from the reservations alone.
      void this.touch(d.reservedUse()).catch((error: unknown) => d.logger.warn({ err: messageOf(error) }, 'image uses not recorded'));
    } else {
      const [inUse, protectedDigests] = await Promise.all([this.touch(d.inUse()), d.protectedDigests()]);
      plan = room(new Set([...inUse, ...protectedDigests]));
    }
    if (!plan.fits) throw new ImageBudgetError(plan.reason);
    for (const digest of plan.evict) {
      await d.cache.remove(digest);
      d.lastUse.forget(digest);
      await d.forgetPull(digest);
      d.logger.info({ evicted: digest, for: image.digest, budgetBytes: d.budgetBytes }, 'image evicted to stay within the node budget');
    }
    if (plan.evict.length > 0) d.onEvicted();
    this.inflight.set(image.digest, image);
    let released = false;
    return {
      evicted: plan.evict,
      release: () => {
        if (released) return;
        released = true;
        this.inflight.delete(image.digest);
      },
    };
  }

  /** Seen in use now is a use: it keeps the LRU order right for images whose pods outlive a scan. */
  private async touch(uses: Promise<Set<string>>): Promise<Set<string>> {
    const inUse = await uses;
    for (const digest of inUse) this.deps.lastUse.touch(digest);
    return inUse;
  }
}
