import { parsePinned } from '@warmpod/domain';
import { canPullOn, isInFlight, isReadyOn, type NodeRecord, type PrepullHint } from '@warmpod/store';
import { pullOf, type PullLookup } from './desired-state';
import { coolingUntil } from './pull-plan';

export type HintNode = Pick<
  NodeRecord,
  'id' | 'labels' | 'cordoned' | 'heartbeatAt' | 'lostAt' | 'cachedImages' | 'capacity' | 'allocated'
>;

export type HintDecision =
  | { pinned: string; action: 'drop'; why: 'held' | 'expired' | 'invalid' }
  | { pinned: string; action: 'wait'; retryAt?: number }
  | { pinned: string; digest: string; action: 'pull'; node: string; assigned?: string };

export interface HintInputs {
  hints: readonly PrepullHint[];
  nodes: readonly HintNode[];
  pulls: PullLookup;
  inUse: ReadonlyMap<string, ReadonlySet<string>>;
  /** Digests active pins already pull onto some node: the pins' pulls serve those hints. */
  wantedByPins: ReadonlySet<string>;
  /** Pulls in flight per node (budget counters). */
  inflight: Readonly<Record<string, number>>;
  readyWindowMs: number;
  retryAfterMs: number;
  hintTtlMs: number;
  now: number;
}

/**
 * What to do with each hint (a pinned digest no node held when a pod was
 * placed): drop it once any node holds the digest, or when it is too old
 * or not a pinned reference; wait while a pull of it is in flight anywhere,
 * while a pin pulls it anyway, or while its node is cooling down after a failure; otherwise pull it onto one
 * node: the one already chosen if it can still pull, else a node where a
 * pod using the digest is already placed, else the least-loaded node.
 */
export function planHints(input: HintInputs): HintDecision[] {
  return input.hints.map((hint) => decide(hint, input));
}

function decide(hint: PrepullHint, input: HintInputs): HintDecision {
  let digest: string;
  try {
    digest = parsePinned(hint.pinned).digest;
  } catch {
    return { pinned: hint.pinned, action: 'drop', why: 'invalid' };
  }
  const pullOn = (id: string) => pullOf(input.pulls, id, digest);
  if (input.nodes.some((n) => !n.lostAt && isReadyOn(n, digest, pullOn(n.id)))) return { pinned: hint.pinned, action: 'drop', why: 'held' };
  if (input.now - hint.since > input.hintTtlMs) return { pinned: hint.pinned, action: 'drop', why: 'expired' };
  if (input.wantedByPins.has(digest) || input.nodes.some((n) => isInFlight(pullOn(n.id)))) return { pinned: hint.pinned, action: 'wait' };

  const able = input.nodes.filter((n) => canPullOn(n, input.readyWindowMs, input.now));
  const node =
    able.find((n) => n.id === hint.node) ?? able.find((n) => input.inUse.get(n.id)?.has(digest)) ?? leastLoaded(able, input.inflight);
  if (!node) return { pinned: hint.pinned, action: 'wait' };
  const retryAt = coolingUntil(pullOn(node.id), hint.since, input.retryAfterMs, input.now);
  if (retryAt !== undefined) return { pinned: hint.pinned, action: 'wait', retryAt };
  return { pinned: hint.pinned, digest, action: 'pull', node: node.id, ...(hint.node ? { assigned: hint.node } : {}) };
}

/** Fewest pulls in flight, then lowest CPU allocation, then id. */
function leastLoaded(nodes: readonly HintNode[], inflight: Readonly<Record<string, number>>): HintNode | undefined {
  const load = (n: HintNode) => (n.capacity.cpu > 0 ? n.allocated.cpu / n.capacity.cpu : 1);
  return [...nodes].sort((a, b) => (inflight[a.id] ?? 0) - (inflight[b.id] ?? 0) || load(a) - load(b) || a.id.localeCompare(b.id))[0];
}
