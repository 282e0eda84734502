import { isTerminal } from '@warmpod/domain';
import type { RuncRuntime } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { PodRepository } from '@warmpod/store';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes } from './pod-sandbox';
import type { PodTransitions } from './pod-transitions';

export interface PodExitWatcherDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'isStopRequested'>;
  runc: Pick<RuncRuntime, 'waitExit'>;
  sandboxes: Pick<PodSandboxes, 'teardown'>;
  locks: PodLocks;
  transitions: Pick<PodTransitions, 'finish'>;
  logger: Logger;
}

/** Follows running containers and records how each ended: Succeeded, Failed, or Stopped when a stop was asked. */
export class PodExitWatcher {
  /** Pods the agent is stopping itself: their exit is the stopper's to record. */
  private readonly stopping = new Set<string>();

  constructor(private readonly deps: PodExitWatcherDeps) {}

  watch(podId: string): void {
    const { runc, locks, logger } = this.deps;
    runc
      .waitExit(podId)
      .then((code) => locks.with(podId, () => this.recordExit(podId, code)))
      .catch((error: unknown) => logger.error({ podId, err: messageOf(error) }, 'exit watch failed'));
  }

  /** Runs `work` (a stop) with the pod's exit left to it. */
  async whileStopping<T>(podId: string, work: () => Promise<T>): Promise<T> {
    this.stopping.add(podId);
    try {
      return await work();
    } finally {
      this.stopping.delete(podId);
    }
  }

  /**
   * How the pod ended, as its exit watch records it (also for a container that
   * ended while no agent watched it). The caller holds the pod's lock.
   */
  async recordExit(podId: string, exitCode: number): Promise<void> {
    const { nodeId, pods, sandboxes, transitions, logger } = this.deps;
    if (this.stopping.has(podId)) return;
    const pod = await pods.get(podId);
    // A pod placed on another node meanwhile is that node's to report on.
    if (!pod || isTerminal(pod.phase) || pod.node !== nodeId) return;
    await sandboxes.teardown(podId);
    const stopped = await pods.isStopRequested(podId);
    const phase = stopped ? 'Stopped' : exitCode === 0 ? 'Succeeded' : 'Failed';
    await transitions.finish(pod, phase, { exitCode, ...(phase === 'Failed' ? { error: `exited with code ${exitCode}` } : {}) });
    logger.info({ exitCode, phase }, 'pod ended');
  }
}
