export const CHECKPOINT_STATES = ['pending', 'available', 'checkpoint_failed', 'restore_failed', 'deleted'] as const;
export type CheckpointState = (typeof CHECKPOINT_STATES)[number];

/** Restore failures after which a checkpoint is quarantined: never restored again, only deleted. */
export const DEFAULT_QUARANTINE_AFTER = 3;

/** A checkpoint as the index records it. */
export interface CheckpointRecord {
  id: string;
  /** Full compatibility key (spec and the node's runtime): what a restore on the node matches. */
  key: string;
  /** The key without the runtime: what the node reports and the scheduler matches. */
  specKey: string;
  /** `runtimeKey` of the node's runtime when it was taken. */
  runtime: string;
  tenant: string;
  node: string;
  /** The pod it was taken of. */
  pod: string;
  /** The pinned digest the checkpointed pod ran. */
  digest: string;
  state: CheckpointState;
  sizeBytes: number;
  createdAt: string;
  /** Its last change (taken, failed, restored, deleted): with createdAt, how long a checkpoint took. */
  updatedAt?: string;
  restoreFailures: number;
  /** Why it failed (checkpoint or last restore), or why it was deleted. */
  reason?: string;
  /** Manifest digest of its OCI artifact in the registry, once pushed: any node of the same runtime may fetch it. */
  artifact?: string;
  /** Bytes a node fetches to restore it from the registry. */
  artifactBytes?: number;
  /** Why the last push to the registry failed (it stays restorable on its node, and the push is retried). */
  pushError?: string;
}

export function isCheckpointState(value: string): value is CheckpointState {
  return (CHECKPOINT_STATES as readonly string[]).includes(value);
}

/**
 * Which states a checkpoint may be in when it moves to `to`. A restore that
 * succeeds moves a restore_failed checkpoint back to available (the failure
 * count stays: it is history, and quarantine looks at it).
 */
const ALLOWED_FROM: Record<CheckpointState, readonly CheckpointState[]> = {
  pending: [],
  // available -> available: a job run twice, or a restore that worked.
  available: ['pending', 'available', 'restore_failed'],
  checkpoint_failed: ['pending'],
  restore_failed: ['available', 'restore_failed'],
  deleted: ['pending', 'available', 'checkpoint_failed', 'restore_failed'],
};

export function checkpointStatesBefore(to: CheckpointState): readonly CheckpointState[] {
  return ALLOWED_FROM[to];
}

export function canTransitionCheckpoint(from: CheckpointState, to: CheckpointState): boolean {
  return ALLOWED_FROM[to].includes(from);
}

export function isQuarantined(record: Pick<CheckpointRecord, 'restoreFailures'>, quarantineAfter = DEFAULT_QUARANTINE_AFTER): boolean {
  return record.restoreFailures >= quarantineAfter;
}

/** Whether a start may plan a restore from this checkpoint. */
export function isRestorable(
  record: Pick<CheckpointRecord, 'state' | 'restoreFailures'>,
  quarantineAfter = DEFAULT_QUARANTINE_AFTER,
): boolean {
  return (record.state === 'available' || record.state === 'restore_failed') && !isQuarantined(record, quarantineAfter);
}

/** What happened to a checkpoint; each maps to one transition. */
export type CheckpointEvent =
  | { type: 'checkpointed'; sizeBytes: number }
  | { type: 'checkpoint-failed'; reason: string }
  | { type: 'restored' }
  | { type: 'restore-failed'; reason: string }
  | { type: 'deleted'; reason?: string };

export type CheckpointEventResult =
  { applied: true; record: CheckpointRecord; quarantined: boolean } | { applied: false; record: CheckpointRecord; why: string };

const TARGET: Record<CheckpointEvent['type'], CheckpointState> = {
  checkpointed: 'available',
  'checkpoint-failed': 'checkpoint_failed',
  restored: 'available',
  'restore-failed': 'restore_failed',
  deleted: 'deleted',
};

/** The state an event moves a checkpoint to (the Redis index's Lua step is told the same). */
export function checkpointEventTarget(event: CheckpointEvent['type']): CheckpointState {
  return TARGET[event];
}

/**
 * Applies an event to a record, pure. The Redis index applies the same rules
 * in one Lua step (its allowed-from lists come from `checkpointStatesBefore`).
 * A quarantined checkpoint only moves to deleted.
 */
export function applyCheckpointEvent(
  record: CheckpointRecord,
  event: CheckpointEvent,
  quarantineAfter = DEFAULT_QUARANTINE_AFTER,
): CheckpointEventResult {
  const to = TARGET[event.type];
  if (!canTransitionCheckpoint(record.state, to)) {
    return { applied: false, record, why: `a ${record.state} checkpoint cannot become ${to}` };
  }
  if (to !== 'deleted' && isQuarantined(record, quarantineAfter)) {
    return { applied: false, record, why: `the checkpoint is quarantined after ${record.restoreFailures} failed restores` };
  }
  const next: CheckpointRecord = { ...record, state: to };
  switch (event.type) {
    case 'checkpointed':
      next.sizeBytes = event.sizeBytes;
      delete next.reason;
      break;
    case 'checkpoint-failed':
    case 'restore-failed':
      next.reason = event.reason;
      if (event.type === 'restore-failed') next.restoreFailures = record.restoreFailures + 1;
      break;
    case 'deleted':
      if (event.reason !== undefined) next.reason = event.reason;
      break;
    case 'restored':
      break;
  }
  return { applied: true, record: next, quarantined: isQuarantined(next, quarantineAfter) };
}
