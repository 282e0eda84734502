import type { BlobPeer, PeerDirectory } from '@warmpod/node-runtime';
import { hasAllBlobs, type NodeRecord, type NodeRepository, type PullRepository } from '@warmpod/store';

/**
 * The peers that hold `digest`, best first: nodes holding the whole image
 * being pulled (they have its config too), then nodes still pulling it that
 * have every blob (`fetched`: they unpack), then nodes whose cached images
 * share the layer. Never this node, a lost or draining node, or one whose
 * agent serves no TLS. Shuffled within each group so copies spread out.
 */
export function blobHolders(
  nodes: readonly NodeRecord[],
  self: string,
  image: string,
  digest: string,
  fetched: ReadonlySet<string> = new Set(),
  random = Math.random,
): BlobPeer[] {
  const whole: BlobPeer[] = [];
  const unpacking: BlobPeer[] = [];
  const layer: BlobPeer[] = [];
  for (const n of nodes) {
    if (n.id === self || n.lostAt || n.drainingAt || !n.agentUrl.startsWith('https://')) continue;
    const images = n.cachedImages ?? [];
    const peer = { node: n.id, url: n.agentUrl };
    if (images.some((i) => i.digest === image)) whole.push(peer);
    else if (fetched.has(n.id)) unpacking.push(peer);
    else if (images.some((i) => i.layers.some((l) => l.digest === digest))) layer.push(peer);
  }
  return [...shuffle(whole, random), ...shuffle(unpacking, random), ...shuffle(layer, random)];
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Reading {
  nodes: NodeRecord[];
  /** Nodes whose pull of the image has every blob. */
  fetched: Set<string>;
}

/**
 * Who holds what, from the store: the node inventories (what the scheduler
 * places by) and the pull records of the image (a node unpacking it already
 * has its blobs). One reading serves every blob of a pull: it is kept for
 * `freshMs`.
 */
export class StorePeerDirectory implements PeerDirectory {
  private readonly cached = new Map<string, { at: number; reading: Promise<Reading> }>();

  constructor(
    private readonly nodes: Pick<NodeRepository, 'list'>,
    private readonly pulls: Pick<PullRepository, 'forDigest'>,
    private readonly self: string,
    private readonly freshMs = 1_000,
  ) {}

  async holders(image: string, digest: string): Promise<BlobPeer[]> {
    const { nodes, fetched } = await this.reading(image);
    return blobHolders(nodes, this.self, image, digest, fetched);
  }

  /** The reading a pull's first blob would wait for starts while the pull still waits for disk room. */
  prepare(image: string): void {
    void this.reading(image);
  }

  private reading(image: string): Promise<Reading> {
    const now = Date.now();
    for (const [key, c] of this.cached) if (now - c.at > this.freshMs) this.cached.delete(key);
    let entry = this.cached.get(image);
    if (!entry) {
      const reading = this.read(image);
      entry = { at: now, reading };
      // A failed reading is not kept (nor unhandled): the next call reads again.
      reading.catch(() => {
        if (this.cached.get(image)?.reading === reading) this.cached.delete(image);
      });
      this.cached.set(image, entry);
    }
    return entry.reading;
  }

  private async read(image: string): Promise<Reading> {
    const nodes = await this.nodes.list();
    const pulls = await this.pulls.forDigest(
      image,
      nodes.map((n) => n.id),
    );
    return { nodes, fetched: new Set(pulls.filter(hasAllBlobs).map((p) => p.node)) };
  }
}
