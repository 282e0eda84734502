import type { NodeRecord } from './node-repository';
import { isReady } from './node-repository';
import type { PinRecord } from './pin-repository';
import type { PullStatus } from './pull-repository';

/**
 * Which nodes a pin is for, and whether a node already has a digest. Pure
 * rules shared by the prepuller (what to pull) and the status read model
 * (what to show), so the two can never disagree.
 */

/** The node fields these rules read. */
export type PrepullNode = Pick<NodeRecord, 'id' | 'labels' | 'cordoned' | 'heartbeatAt' | 'lostAt' | 'cachedImages'>;

/** Every selector label present with the same value; an empty selector matches every node. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A node a pin's digest is protected on: registered, not lost, labels match (readiness does not matter). */
export function isProtectedTarget(node: PrepullNode, pin: Pick<PinRecord, 'nodeSelector'>): boolean {
  return !node.lostAt && matchesSelector(node.labels, pin.nodeSelector);
}

/** A node that may be asked to pull now: not lost, heartbeat within the window, not cordoned. */
export function canPullOn(node: PrepullNode, readyWindowMs: number, now: number): boolean {
  return !node.lostAt && !node.cordoned && isReady(node, readyWindowMs, now);
}

/** Nodes a pin's digest should be pulled onto now. */
export function pullTargets<N extends PrepullNode>(
  pin: Pick<PinRecord, 'nodeSelector'>,
  nodes: readonly N[],
  readyWindowMs: number,
  now: number,
): N[] {
  return nodes.filter((n) => canPullOn(n, readyWindowMs, now) && matchesSelector(n.labels, pin.nodeSelector));
}

/** The node's own inventory lists the digest. */
export function inventoryHolds(node: Pick<PrepullNode, 'cachedImages'>, digest: string): boolean {
  return (node.cachedImages ?? []).some((i) => i.digest === digest);
}

/** Ready on the node: in its inventory, or its pull ended ready (the inventory report may lag). */
export function isReadyOn(node: Pick<PrepullNode, 'cachedImages'>, digest: string, pull: Pick<PullStatus, 'state'> | undefined): boolean {
  return inventoryHolds(node, digest) || pull?.state === 'ready';
}

/** A pull still running whose blobs are all on the node (it unpacks): a peer can take them from there. */
export function hasAllBlobs(pull: Pick<PullStatus, 'state' | 'bytesDone' | 'bytesTotal'> | undefined): boolean {
  return pull?.state === 'pulling' && pull.bytesTotal > 0 && pull.bytesDone >= pull.bytesTotal;
}

/** A pull that holds a budget slot. */
export function isInFlight(pull: Pick<PullStatus, 'state'> | undefined): boolean {
  return pull?.state === 'queued' || pull?.state === 'pulling';
}
