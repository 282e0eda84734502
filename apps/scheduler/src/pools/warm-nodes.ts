import { warmScore, type PlacementCandidate, type Resources } from '@warmpod/domain';
import type { NodeRecord, NodeRepository, PoolRecord } from '@warmpod/store';
import type { PlacementView } from '../placement-view';

/**
 * A label naming the node itself. When nodes carry it (proposed: set at
 * registration), a pool pod is pinned to the node chosen here through its
 * node selector; without it, the pod's selector is the pool's and placement's
 * own digest preference sends it to a node holding the digest.
 */
export const NODE_LABEL = 'warmpod.io/node';

/** A node holding a pool's digest, with room for this many more of its pods. */
export interface WarmNode {
  id: string;
  room: number;
  /** The node carries `warmpod.io/node=<id>`, so a pod can be sent to it by selector. */
  selectable: boolean;
}

const MAX_NODES = 64;
/** Any candidate scoring at least this holds the digest (rule 2's digest tier, see warmScore). */
const DIGEST_TIER = warmScore(false, true, 0, 0);

export function holdsDigest(candidate: Pick<PlacementCandidate, 'score'>): boolean {
  return candidate.score >= DIGEST_TIER;
}

/** How many pods needing `want` fit in what is left of the node. */
export function roomFor(node: Pick<NodeRecord, 'capacity' | 'allocated'>, want: Resources): number {
  const fits = (free: number, need: number) => (need > 0 ? Math.floor((free + 1e-9) / need) : Number.POSITIVE_INFINITY);
  const room = Math.min(
    fits(node.capacity.cpu - node.allocated.cpu, want.cpu),
    fits(node.capacity.memoryMiB - node.allocated.memoryMiB, want.memoryMiB),
    fits(node.capacity.gpu - node.allocated.gpu, want.gpu),
  );
  return Number.isFinite(room) ? Math.max(0, room) : 0;
}

/**
 * Nodes where a pool's digest is ready, read from the scheduler's own
 * placement view: the same filters (ready, not cordoned, selector, room for
 * one pod) and the same inventory placement will use for the pod, so the
 * controller only starts a pod when placement can put it on a warm node.
 */
export class WarmNodes {
  constructor(
    private readonly view: Pick<PlacementView, 'plan'>,
    private readonly nodes: Pick<NodeRepository, 'get'>,
  ) {}

  async find(pool: Pick<PoolRecord, 'image' | 'template' | 'nodeSelector'>): Promise<WarmNode[]> {
    const ranking = this.view.plan(
      { digest: pool.image.digest, layers: [], resources: pool.template.resources, nodeSelector: pool.nodeSelector },
      MAX_NODES,
    );
    const holders = ranking.candidates.filter(holdsDigest);
    const records = await Promise.all(holders.map((c) => this.nodes.get(c.node)));
    return records
      .flatMap((r) => (r ? [{ id: r.id, room: roomFor(r, pool.template.resources), selectable: r.labels[NODE_LABEL] === r.id }] : []))
      .filter((n) => n.room > 0);
  }
}
