import type { BlobPeer, PeerDirectory } from '@warmpod/node-runtime';
import type { NodeRecord, NodeRepository } from '@warmpod/store';

/**
 * The peers that hold `digest`, best first: nodes holding the whole image
 * being pulled (they have its config too), then nodes whose cached images
 * share the layer. Never this node, a lost or draining node, or one whose
 * agent serves no TLS. Shuffled within each group so copies spread out.
 */
export function blobHolders(nodes: readonly NodeRecord[], self: string, image: string, digest: string, random = Math.random): BlobPeer[] {
  const whole: BlobPeer[] = [];
  const layer: BlobPeer[] = [];
  for (const n of nodes) {
    if (n.id === self || n.lostAt || n.drainingAt || !n.agentUrl.startsWith('https://')) continue;
    const images = n.cachedImages ?? [];
    const peer = { node: n.id, url: n.agentUrl };
    if (images.some((i) => i.digest === image)) whole.push(peer);
    else if (images.some((i) => i.layers.some((l) => l.digest === digest))) layer.push(peer);
  }
  return [...shuffle(whole, random), ...shuffle(layer, random)];
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Who holds what, from the node inventories in the store (what the
 * scheduler places by). One read of the node list serves every blob of a
 * pull: it is kept for `freshMs`.
 */
export class StorePeerDirectory implements PeerDirectory {
  private cached?: { at: number; nodes: Promise<NodeRecord[]> };

  constructor(
    private readonly nodes: Pick<NodeRepository, 'list'>,
    private readonly self: string,
    private readonly freshMs = 1_000,
  ) {}

  async holders(image: string, digest: string): Promise<BlobPeer[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.freshMs) {
      const nodes = this.nodes.list();
      nodes.catch(() => (this.cached = undefined));
      this.cached = { at: now, nodes };
    }
    return blobHolders(await this.cached.nodes, this.self, image, digest);
  }
}
