import { DEFAULT_QUARANTINE_AFTER, isQuarantined, type CheckpointRecord } from './checkpoint-state';

export interface RetentionPolicy {
  /** Restorable checkpoints kept per key, newest first (>= 1). */
  keepPerKey: number;
  /** Older checkpoints are deleted whatever their state. */
  maxAgeMs: number;
  /** Bytes all kept checkpoints may take on the node. */
  diskBudgetBytes: number;
  /** A pending checkpoint older than this was abandoned (its agent died); default: maxAgeMs. */
  pendingGraceMs?: number;
  quarantineAfter?: number;
}

export type RetentionReason = 'expired' | 'superseded' | 'quarantined' | 'failed' | 'stale-pending' | 'over-budget';

export interface RetentionDecision {
  delete: Array<{ id: string; reason: RetentionReason }>;
  /** Bytes still held by what is kept (pending included). */
  keptBytes: number;
}

type Candidate = Pick<CheckpointRecord, 'id' | 'key' | 'state' | 'sizeBytes' | 'createdAt' | 'restoreFailures'>;

/**
 * Which checkpoints of one node to delete. In order: dead weight
 * (checkpoint_failed, quarantined, abandoned pending), then anything older
 * than maxAge, then all but the newest `keepPerKey` restorable ones of each
 * key, then, while over the disk budget, the oldest restorable ones (those
 * that have already failed a restore go first). A pending checkpoint within
 * its grace is being written and is never chosen. Deleted records are ignored.
 */
export function selectCheckpointsToDelete(checkpoints: readonly Candidate[], policy: RetentionPolicy, now: number): RetentionDecision {
  if (!(policy.keepPerKey >= 1)) throw new RangeError('keepPerKey must be at least 1');
  const quarantineAfter = policy.quarantineAfter ?? DEFAULT_QUARANTINE_AFTER;
  const pendingGraceMs = policy.pendingGraceMs ?? policy.maxAgeMs;
  const chosen = new Map<string, RetentionReason>();
  const age = (c: Candidate): number => now - Date.parse(c.createdAt);
  const live = checkpoints.filter((c) => c.state !== 'deleted');

  for (const c of live) {
    if (c.state === 'pending') {
      if (age(c) > pendingGraceMs) chosen.set(c.id, 'stale-pending');
    } else if (c.state === 'checkpoint_failed') chosen.set(c.id, 'failed');
    else if (isQuarantined(c, quarantineAfter)) chosen.set(c.id, 'quarantined');
    else if (age(c) > policy.maxAgeMs) chosen.set(c.id, 'expired');
  }

  const newestFirst = (a: Candidate, b: Candidate): number => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1);
  const restorable = live.filter((c) => c.state !== 'pending' && !chosen.has(c.id)).sort(newestFirst);
  const seenPerKey = new Map<string, number>();
  for (const c of restorable) {
    const seen = (seenPerKey.get(c.key) ?? 0) + 1;
    seenPerKey.set(c.key, seen);
    if (seen > policy.keepPerKey) chosen.set(c.id, 'superseded');
  }

  let keptBytes = live.filter((c) => !chosen.has(c.id)).reduce((sum, c) => sum + c.sizeBytes, 0);
  if (keptBytes > policy.diskBudgetBytes) {
    const evictable = restorable
      .filter((c) => !chosen.has(c.id))
      .sort((a, b) => Number(b.state === 'restore_failed') - Number(a.state === 'restore_failed') || newestFirst(b, a));
    for (const c of evictable) {
      if (keptBytes <= policy.diskBudgetBytes) break;
      chosen.set(c.id, 'over-budget');
      keptBytes -= c.sizeBytes;
    }
  }
  return { delete: [...chosen].map(([id, reason]) => ({ id, reason })), keptBytes };
}
