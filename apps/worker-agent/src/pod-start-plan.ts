import {
  isTerminal,
  podReadiness,
  type CheckpointCondition,
  type PodCheckpointStatus,
  type PodRecord,
  type RestartPolicy,
} from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import { NodeRuntimeError, RestoreAbortedError } from '@warmpod/node-runtime';
import { RegistryError } from '@warmpod/registry';

/**
 * How a start-pod job starts its pod, decided from what it reads (the pod
 * record, the image cache, whether this node can checkpoint). Plain code: the
 * starter carries the plan out.
 */

/** What a start-pod job does with the pod as it finds it. */
export type StartEntry =
  /** Gone, ended, or Running already (a job run twice; a pod a warm pool handed out). */
  { kind: 'nothing' } | { kind: 'misplaced'; reason: string } | { kind: 'start' };

export function startEntry(pod: PodRecord | undefined, nodeId: string): StartEntry {
  if (!pod || isTerminal(pod.phase) || pod.phase === 'Running') return { kind: 'nothing' };
  if (pod.node !== nodeId) return { kind: 'misplaced', reason: `pod ${pod.id} is placed on ${pod.node ?? 'no node'}, not ${nodeId}` };
  return { kind: 'start' };
}

export interface StartFacts {
  pod: PodRecord;
  /** `attempt` > 1 means an earlier try may have left parts behind. */
  attempt: number;
  /** The pod's digest is in this node's image cache already. */
  cached: boolean;
  /** `criu check` passed on this node. */
  canCheckpoint: boolean;
}

/** A start whose ports stay closed until the pod is ready and the checkpoint is taken (rule 3). */
export interface CheckpointedStart {
  /** The pod's readiness condition: what confirms a restored pod. */
  condition: CheckpointCondition;
  /** Look for a restorable checkpoint first. */
  tryRestore: boolean;
}

export interface StartPlan {
  /** Pulling first: the digest is not on this node. */
  pull: boolean;
  /** Remove what an earlier attempt may have left before building anything. */
  clearLeftovers: boolean;
  /** How a start without checkpoints reports itself. */
  plainMode: 'cold' | 'warm-cache';
  /** Undefined: a plain start, exposed at once. */
  checkpointed?: CheckpointedStart;
}

export function planStart({ pod, attempt, cached, canCheckpoint }: StartFacts): StartPlan {
  const plan: StartPlan = {
    pull: !cached,
    // Only a retried start can find parts of an earlier attempt; a fresh one skips the cost.
    clearLeftovers: attempt > 1 || pod.phase === 'Starting' || pod.phase === 'Restoring',
    plainMode: cached ? 'warm-cache' : 'cold',
  };
  // The pod's readiness is when its checkpoint is taken (and what confirms a restore).
  const readiness = podReadiness(pod.spec);
  // Enablement was decided by the scheduler (`checkpointing`); the agent obeys it when it can.
  if (!pod.checkpointing?.enabled || !readiness || !canCheckpoint) return plan;
  return {
    ...plan,
    checkpointed: {
      condition: readiness.condition,
      // A retried job that finds the pod Starting already fell back (or never restored): it starts normally.
      tryRestore: pod.phase !== 'Starting',
    },
  };
}

/** At most this many starts again in one start job for a pod whose readiness never holds (OnFailure, Always). */
export const READINESS_RESTARTS_MAX = 3;

/**
 * Whether a pod that did not get ready is started again (its restart
 * policy, as the kubelet restarts containers): Always does, OnFailure does
 * unless it exited 0, Never does not; after `READINESS_RESTARTS_MAX` tries
 * the pod fails with the reason.
 */
export function readinessRestart(
  policy: RestartPolicy,
  notReady: { kind: 'timeout' } | { kind: 'exited'; exitCode: number },
  restartsSoFar: number,
): boolean {
  if (policy === 'Never' || restartsSoFar >= READINESS_RESTARTS_MAX) return false;
  return policy === 'Always' || notReady.kind === 'timeout' || notReady.exitCode !== 0;
}

/** How a checkpointed start that did not restore reports itself: a fallback when a restore was tried and failed. */
export function unrestoredMode(status: PodCheckpointStatus): 'cold' | 'fallback' {
  return status.restoredFrom ? 'fallback' : 'cold';
}

/** What the pod record says after a failed restore: the checkpoint tried and why it failed. */
export function restoreFailedStatus(checkpointId: string, error: unknown): { restoredFrom: string; error: string } {
  return { restoredFrom: checkpointId, error: `restore from ${checkpointId} failed: ${messageOf(error)}` };
}

/** A checkpoint that could not be taken is added to what the record already says (a failed restore). */
export function withCheckpointFailure(status: PodCheckpointStatus, message: string): PodCheckpointStatus {
  return { ...status, error: [status.error, `checkpoint failed: ${message}`].filter(Boolean).join('; ') };
}

/** A user's stop during a restore or a readiness wait: the pod is stopped, nothing failed. */
export function isStopOnRequest(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted || error instanceof RestoreAbortedError;
}

/** How a start that threw ends: Stopped, Failed for good, or retried by the queue. */
export type StartFailure = 'stopped' | 'failed' | 'retry';

export function startFailure(error: unknown, signal: AbortSignal): StartFailure {
  if (isStopOnRequest(error, signal)) return 'stopped';
  return isPermanent(error) ? 'failed' : 'retry';
}

function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentJobError) return true;
  if (error instanceof RegistryError) return error.kind !== 'unavailable';
  // A spec that cannot be built (e.g. an image with no command) fails the same way every time.
  return error instanceof NodeRuntimeError && error.operation === 'build runtime spec';
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
