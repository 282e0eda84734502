import { describeCondition, type CheckpointCondition, type PodRecord, type ReadinessSpec } from '@warmpod/domain';
import type { ReadinessProbe, RuncRuntime } from '@warmpod/node-runtime';
import { messageOf } from '@warmpod/observability';
import type { LaunchedPod } from './pod-sandbox';

/** How long a restored pod has to pass its condition before the restore counts as failed. */
const RESTORED_READY_MS = 30_000;
/**
 * A restored pod was ready when it was checkpointed (its condition held,
 * and it held through the checkpoint): one probe that passes after the
 * resume shows the restored process answers in its new netns and root. It
 * is probed at once and, while it fails, again every few ms until the
 * deadline, when the restore counts as failed (and the start falls back).
 */
const RESTORED_READY_PROBES = 1;
const RESTORED_PROBE_INTERVAL_MS = 5;

/** How a fresh pod's wait for readiness ended when it did not get ready. */
export type NotReady =
  /** The condition did not hold within the timeout: `reason` says which and what the last probe saw. */
  | { kind: 'timeout'; reason: string }
  /** The container ended first. */
  | { kind: 'exited'; exitCode: number; reason: string };

export interface PodReadinessDeps {
  probe: Pick<ReadinessProbe, 'waitUntilReady'>;
  runc: Pick<RuncRuntime, 'waitExit'>;
}

/**
 * The one readiness wait of this node, for every pod: a plain start, the
 * start of a checkpointing pod (whose checkpoint is taken once it holds),
 * and a restored pod's confirmation. Ports are exposed only after it.
 */
export class PodReadiness {
  constructor(private readonly deps: PodReadinessDeps) {}

  /**
   * Waits until a freshly launched pod is ready. Resolves undefined when it
   * is, or with why not (timeout, or the container ended first). A stop
   * (`signal`) rejects with its reason.
   */
  async waitStarted(pod: PodRecord, launched: LaunchedPod, readiness: ReadinessSpec, signal: AbortSignal): Promise<NotReady | undefined> {
    const waiting = new AbortController();
    const stopWaiting = AbortSignal.any([signal, waiting.signal]);
    let exitCode: number | undefined;
    void this.deps.runc.waitExit(pod.id, { signal: stopWaiting }).then(
      (code) => {
        exitCode = code;
        waiting.abort(new Error(`exited with code ${code} before it was ready`));
      },
      () => undefined,
    );
    try {
      await this.deps.probe.waitUntilReady(target(pod, launched), readiness.condition, {
        deadline: Date.now() + readiness.timeoutSeconds * 1000,
        successThreshold: readiness.successThreshold,
        intervalMs: readiness.intervalMs,
        signal: stopWaiting,
      });
      return undefined;
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      if (exitCode !== undefined) return { kind: 'exited', exitCode, reason: `the pod exited with code ${exitCode} before it was ready` };
      return {
        kind: 'timeout',
        reason: `readiness ${describeCondition(readiness.condition)} not met within ${readiness.timeoutSeconds} s: ${messageOf(error)}`,
      };
    } finally {
      waiting.abort();
    }
  }

  /**
   * A restored pod's condition, confirmed by one passing probe; rejects when none passes in time (a failed restore).
   * Resolves with how many probes it took (one: the whole wait was the pod answering one probe).
   */
  async confirmRestored(
    pod: PodRecord,
    launched: LaunchedPod,
    condition: CheckpointCondition,
    signal: AbortSignal,
  ): Promise<{ attempts: number }> {
    const { attempts } = await this.deps.probe.waitUntilReady(target(pod, launched), condition, {
      deadline: Date.now() + RESTORED_READY_MS,
      successThreshold: RESTORED_READY_PROBES,
      intervalMs: RESTORED_PROBE_INTERVAL_MS,
      signal,
    });
    return { attempts };
  }
}

function target(pod: PodRecord, launched: LaunchedPod) {
  return { podId: pod.id, ip: launched.ip, rootfsDir: launched.rootfsDir };
}
