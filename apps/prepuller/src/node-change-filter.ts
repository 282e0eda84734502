import type { NodeRecord } from '@warmpod/store';

export type WatchedNode = Pick<NodeRecord, 'id' | 'labels' | 'cordoned' | 'heartbeatAt' | 'lostAt' | 'cachedImages' | 'runningPods'>;

/**
 * Tells which node change messages matter to the prepuller: only a node
 * that appeared, left, was lost, was cordoned, changed labels, cache or
 * running pods, or came back after a silence longer than the ready window
 * needs a reconcile pass. (Heartbeats are not published; a node returning
 * from silence shows up through its loss and re-registration, or the
 * periodic pass.)
 */
export class NodeChangeFilter {
  private readonly seen = new Map<string, { fingerprint: string; heartbeatAt: number }>();

  constructor(private readonly readyWindowMs: number) {}

  /** Records what is known of a node now; true when that differs in a way that matters. */
  observe(id: string, node: WatchedNode | undefined, now: number): boolean {
    const before = this.seen.get(id);
    if (!node) {
      this.seen.delete(id);
      return before !== undefined;
    }
    const heartbeatAt = Date.parse(node.heartbeatAt);
    const fingerprint = fingerprintOf(node);
    this.seen.set(id, { fingerprint, heartbeatAt });
    if (!before) return true;
    const wasReady = now - before.heartbeatAt <= this.readyWindowMs;
    const isReadyNow = now - heartbeatAt <= this.readyWindowMs;
    return before.fingerprint !== fingerprint || wasReady !== isReadyNow;
  }

  /** Replaces everything known by a full listing (after a pass). */
  reset(nodes: readonly WatchedNode[], now: number): void {
    const ids = new Set(nodes.map((n) => n.id));
    for (const id of [...this.seen.keys()]) if (!ids.has(id)) this.seen.delete(id);
    for (const node of nodes) this.observe(node.id, node, now);
  }
}

function fingerprintOf(node: WatchedNode): string {
  return JSON.stringify([
    Boolean(node.lostAt),
    node.cordoned,
    Object.entries(node.labels).sort(([a], [b]) => a.localeCompare(b)),
    (node.cachedImages ?? []).map((i) => i.digest).sort(),
    [...(node.runningPods ?? [])].sort(),
  ]);
}
