import { isProtectedTarget, pullTargets, type PinRecord, type PrepullNode, type PullStatus } from '@warmpod/store';

/** A digest that should be on a node. */
export interface PullWant {
  node: string;
  digest: string;
  pinned: string;
  /** Newest creation time (ms) of the pins that want it: a pin made after a failure allows a fresh try. */
  pinnedAt: number;
  /** Oldest creation time (ms) of those pins: older pins are served first. */
  firstPinnedAt: number;
}

/** Pull states by digest, then node. */
export type PullLookup = ReadonlyMap<string, ReadonlyMap<string, PullStatus>>;

export function pullOf(pulls: PullLookup, node: string, digest: string): PullStatus | undefined {
  return pulls.get(digest)?.get(node);
}

/**
 * Active pins x nodes that can pull now (Ready, not lost, not cordoned,
 * labels matching the pin's selector; an empty selector is every node):
 * one entry per (node, digest), however many pins want it.
 */
export function desiredPulls(active: readonly PinRecord[], nodes: readonly PrepullNode[], readyWindowMs: number, now: number): PullWant[] {
  const wants = new Map<string, PullWant>();
  for (const pin of active) {
    const at = Date.parse(pin.createdAt);
    for (const node of pullTargets(pin, nodes, readyWindowMs, now)) {
      const key = `${node.id} ${pin.digest}`;
      const seen = wants.get(key);
      if (seen) {
        seen.pinnedAt = Math.max(seen.pinnedAt, at);
        seen.firstPinnedAt = Math.min(seen.firstPinnedAt, at);
      } else {
        wants.set(key, { node: node.id, digest: pin.digest, pinned: pin.pinned, pinnedAt: at, firstPinnedAt: at });
      }
    }
  }
  return [...wants.values()];
}

/**
 * Digests each node's cache GC must keep: every active pin's digest on every
 * node it targets (readiness aside: a node that missed a heartbeat keeps its
 * pins), plus each superseded digest on the nodes where it still rotates.
 * Every registered node gets an entry, empty when nothing is protected.
 */
export function protectedDigests(
  active: readonly PinRecord[],
  rotating: ReadonlyArray<{ digest: string; keepOn: readonly string[] }>,
  nodes: readonly PrepullNode[],
): Map<string, Set<string>> {
  const byNode = new Map<string, Set<string>>(nodes.map((n) => [n.id, new Set<string>()]));
  for (const pin of active) {
    for (const node of nodes) if (isProtectedTarget(node, pin)) byNode.get(node.id)!.add(pin.digest);
  }
  for (const r of rotating) for (const id of r.keepOn) byNode.get(id)?.add(r.digest);
  return byNode;
}
