import { isTerminal, type PodPhase } from '@warmpod/domain';
import type { PoolMember, PoolRecord, RetireMode } from '@warmpod/store';

/** A member as the controller sees it: the pool's bookkeeping plus its pod's status. */
export interface MemberView extends PoolMember {
  /** Undefined while the pod record does not exist (being created, or never made). */
  phase?: PodPhase;
  node?: string;
  stopRequested: boolean;
  /** When it became Running (ms), while it is. */
  runningSince?: number;
}

export interface PoolPlanInput {
  pool: Pick<PoolRecord, 'size' | 'state'> & { image: Pick<PoolRecord['image'], 'digest'> };
  members: readonly MemberView[];
  now: number;
  /** How long a member may exist without a pod record. */
  graceMs: number;
  /** A pod Running this long shows the template stays up. */
  stableMs?: number;
}

export interface PoolPlan {
  /** Members whose pods ended (or never appeared): drop them. */
  prune: string[];
  /** Retirements to attempt, in order; each is re-checked atomically in the store. */
  retire: Array<{ podId: string; mode: RetireMode }>;
  /** New pods of the current digest the pool is short of. */
  start: number;
  /** Pods of the current digest Running and free. */
  ready: number;
  /** A pod of the current digest has stayed Running for `stableMs`: refills need not back off. */
  stable: boolean;
  /** Live pods of older digests (a rotation is under way while > 0). */
  old: number;
  /** Nodes holding members on their way to Running: their next report may show one Running. */
  awaiting: string[];
  /** Members still Pending (not placed yet). */
  pending: MemberView[];
}

const ON_THE_WAY: readonly PodPhase[] = ['Scheduled', 'Pulling', 'Starting', 'Restoring'];

function isLive(m: MemberView, now: number, graceMs: number): boolean {
  if (m.phase === undefined) return now - m.admittedAt < graceMs;
  return !isTerminal(m.phase) && !m.stopRequested;
}

/** Ended, or no record appeared within the grace period. A pod being stopped is not ended yet. */
function hasEnded(m: MemberView, now: number, graceMs: number): boolean {
  return m.phase === undefined ? now - m.admittedAt >= graceMs : isTerminal(m.phase);
}

const oldestFirst = (a: MemberView, b: MemberView) => a.admittedAt - b.admittedAt;
const newestFirst = (a: MemberView, b: MemberView) => b.admittedAt - a.admittedAt;

/**
 * What a pool needs now, decided from one consistent read. Pure: the store
 * re-checks every retirement and admission in one Lua step, so a plan made
 * from a slightly stale read can be refused but never break an invariant.
 *
 * - An older digest's pod that is not Running yet is retired at once: no
 *   pod starts on an old digest after the pool moved.
 * - An older digest's Running pod is retired only while the Running pods
 *   left number at least the size: a replacement is Running first.
 * - New pods are always of the current digest, up to the size.
 * - Extra current pods (after a shrink) go, those not Running first.
 */
export function planPool({ pool, members, now, graceMs, stableMs = 10_000 }: PoolPlanInput): PoolPlan {
  const current = pool.image.digest;
  const prune = members.filter((m) => hasEnded(m, now, graceMs)).map((m) => m.podId);
  const live = members.filter((m) => isLive(m, now, graceMs));
  const awaiting = [
    ...new Set(live.filter((m) => m.phase !== undefined && ON_THE_WAY.includes(m.phase) && m.node).map((m) => m.node!)),
  ].sort();
  const pending = live.filter((m) => m.phase === 'Pending');
  const cur = live.filter((m) => m.digest === current);
  const old = live.filter((m) => m.digest !== current);
  const runningCur = cur.filter((m) => m.phase === 'Running');
  const stable = runningCur.some((m) => m.runningSince !== undefined && now - m.runningSince >= stableMs);
  const base = { prune, awaiting, pending, ready: runningCur.length, stable, old: old.length };

  if (pool.state === 'draining') {
    return { ...base, retire: live.map((m) => ({ podId: m.podId, mode: 'drain' as const })), start: 0 };
  }

  const retire: PoolPlan['retire'] = [];
  const oldRunning = old.filter((m) => m.phase === 'Running').sort(oldestFirst);
  for (const m of old.filter((o) => o.phase !== 'Running').sort(oldestFirst)) retire.push({ podId: m.podId, mode: 'superseded' });
  const rotatable = Math.max(0, runningCur.length + oldRunning.length - pool.size);
  for (const m of oldRunning.slice(0, rotatable)) retire.push({ podId: m.podId, mode: 'rotate' });

  const surplus = cur.length - pool.size;
  if (surplus > 0) {
    const notRunning = cur.filter((m) => m.phase !== 'Running').sort(newestFirst);
    const running = runningCur.slice().sort(newestFirst);
    for (const m of [...notRunning, ...running].slice(0, surplus)) retire.push({ podId: m.podId, mode: 'shrink' });
  }
  return { ...base, retire, start: Math.max(0, pool.size - cur.length) };
}
