import type { CriuRestorePhases } from './criu-phases';
import type { CriuMode } from './criu-mode';
import { NodeRuntimeError } from '../errors';
import type { RuncRuntimeOptions } from '../runc-runtime';

/** What RuncCheckpointer takes and reports: its options, a restore's step times, its errors. */

export interface RuncCheckpointerOptions extends RuncRuntimeOptions {
  checkpointTimeoutMs?: number;
  restoreTimeoutMs?: number;
  /** The criu runc runs (runc's global `--criu`); default runc's own, `criu` on PATH. */
  criuPath?: string;
  /** How CRIU runs on this node, as CriuCapability measured it; default: the environment decides. */
  criuMode?: CriuMode;
  /**
   * false: CRIU restores under the pod's CPU quota, as restores ran before
   * (the restore profiler compares); default true (see writeRestoreBundle).
   */
  liftCpuQuota?: boolean;
}

export interface CheckpointOptions {
  /** The pod keeps serving after its checkpoint (rule 3: checkpoint the ready state, leave it running). */
  leaveRunning: boolean;
  /** Dump established TCP connections; restores from such a checkpoint need it too. */
  tcpEstablished?: boolean;
  fileLocks?: boolean;
}

export interface RestoreOptions {
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  /** A user's stop during the restore: the attempt is cleaned up and `RestoreAbortedError` thrown (not a restore failure). */
  signal?: AbortSignal;
  /**
   * The pod the checkpoint was taken from (CheckpointStore records it). A
   * failed restore may leave that pod's cgroup recreated by CRIU; with this
   * id it is removed when unused. (A successful restore finds it by itself.)
   */
  sourcePodId?: string;
  /** `verifyImages` already passed for these images: not read again. */
  imagesVerified?: boolean;
  /**
   * Leave the pod's CPU quota off after the resume for at most this long
   * (ms): the caller's readiness probe of the restored pod is then not
   * throttled, and it sets the quota itself (`limitCpu` of the result) once
   * the probe passed. At the bound the quota goes on whatever happened.
   * Default 0: set as soon as CRIU let go of the tasks.
   */
  deferCpuLimitMs?: number;
}

/** What a restore returns. */
export interface RestoredContainer {
  pid: number;
  ms: number;
  steps?: RestoreSteps;
  /** Sets the pod's CPU quota now if it is not set yet (see `deferCpuLimitMs`); resolves once it is. */
  limitCpu: () => Promise<void>;
}

/**
 * Where a restore's time went (ms): checksum verify, `runc restore` until the
 * pid file, until CRIU resumed the tasks (then the CPU quota is set, unless deferred), cgroup adoption; and CRIU's phases inside `runcMs`, from its
 * restore.log (read while the processes are adopted; absent when not found).
 */
export interface RestoreSteps extends CriuRestorePhases {
  verifyMs: number;
  runcMs: number;
  /** Pid file -> CRIU let go of the tasks and (unless deferred) the pod's CPU quota is set. */
  resumeMs: number;
  adoptMs: number;
}

/** CRIU refused or failed; `criuErrors` are its `Error (...)` lines, `logTail` the end of its log. */
export class CriuOperationError extends NodeRuntimeError {
  constructor(
    operation: string,
    detail: string,
    podId: string,
    readonly criuErrors: string[],
    readonly logTail: string,
    options?: ErrorOptions,
  ) {
    super(operation, detail, podId, options);
  }
}

/** The restore was stopped through its AbortSignal; everything it created is gone. */
export class RestoreAbortedError extends NodeRuntimeError {}
