import { inventoryHolds, isInFlight, type PrepullNode, type PullStatus } from '@warmpod/store';
import { pullOf, type PullLookup, type PullWant } from './desired-state';

export interface PullPlan {
  /** Wants to try to claim, in the order to try them; `staleReady` ones need their old record dropped first. */
  toClaim: Array<PullWant & { staleReady?: true }>;
  /** Earliest time (ms) a failed pull's cooldown ends, when one is waiting. */
  retryAt?: number;
}

/**
 * A failed pull is tried again only after `retryAfterMs`, or sooner when a
 * pin wanting it was created after the failure (the pin changed).
 * Returns the time it may be tried again, or undefined when it may now.
 */
export function coolingUntil(pull: PullStatus | undefined, pinnedAt: number, retryAfterMs: number, now: number): number | undefined {
  if (pull?.state !== 'failed') return undefined;
  const failedAt = Date.parse(pull.updatedAt);
  if (!Number.isFinite(failedAt) || pinnedAt > failedAt) return undefined;
  const until = failedAt + retryAfterMs;
  return until > now ? until : undefined;
}

/**
 * A pull that ended ready long ago while the node's inventory does not list
 * the digest: the image was evicted since (the inventory has had time to
 * catch up), so the record no longer means ready.
 */
export function isStaleReady(node: PrepullNode, pull: PullStatus | undefined, inventoryLagMs: number, now: number): boolean {
  if (pull?.state !== 'ready' || inventoryHolds(node, pull.digest)) return false;
  const at = Date.parse(pull.updatedAt);
  return Number.isFinite(at) && now - at > inventoryLagMs;
}

/**
 * The wants still to do: not ready on the node (inventory, or a pull that
 * ended ready recently), not in flight, not cooling down after a failure. Ordered so the budget is
 * spread: oldest pin first within a node, then round-robin across nodes, so
 * every node gets its first pull before any node gets its second.
 */
export function planPulls(
  wants: readonly PullWant[],
  nodes: ReadonlyMap<string, PrepullNode>,
  pulls: PullLookup,
  timing: { retryAfterMs: number; inventoryLagMs: number },
  now: number,
): PullPlan {
  let retryAt: number | undefined;
  const perNode = new Map<string, PullPlan['toClaim']>();
  for (const want of wants) {
    const node = nodes.get(want.node);
    if (!node) continue;
    const pull = pullOf(pulls, want.node, want.digest);
    const stale = isStaleReady(node, pull, timing.inventoryLagMs, now);
    if (inventoryHolds(node, want.digest) || (pull?.state === 'ready' && !stale) || isInFlight(pull)) continue;
    const until = coolingUntil(pull, want.pinnedAt, timing.retryAfterMs, now);
    if (until !== undefined) {
      retryAt = Math.min(retryAt ?? until, until);
      continue;
    }
    const list = perNode.get(want.node) ?? [];
    list.push(stale ? { ...want, staleReady: true } : want);
    perNode.set(want.node, list);
  }
  const queues = [...perNode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, list]) => list.sort((a, b) => a.firstPinnedAt - b.firstPinnedAt || a.digest.localeCompare(b.digest)));
  const toClaim: PullPlan['toClaim'] = [];
  for (let round = 0; queues.some((q) => q.length > round); round++) {
    for (const q of queues) if (q[round]) toClaim.push(q[round]!);
  }
  return { toClaim, ...(retryAt !== undefined ? { retryAt } : {}) };
}
