import { isTerminal } from '@warmpod/domain';
import type { RuncRuntime } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { PodRepository } from '@warmpod/store';
import type { PodExitWatcher } from './pod-exit-watcher';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes } from './pod-sandbox';
import type { PodStarter } from './pod-starter';
import type { PodTransitions } from './pod-transitions';

export interface PodStopperDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get'>;
  runc: Pick<RuncRuntime, 'stop' | 'list'>;
  sandboxes: Pick<PodSandboxes, 'teardown'>;
  locks: PodLocks;
  transitions: Pick<PodTransitions, 'finish'>;
  exits: Pick<PodExitWatcher, 'whileStopping'>;
  starts: Pick<PodStarter, 'abort'>;
  stopGraceMs: number;
  logger: Logger;
}

/**
 * Ends containers on this node: a stop-pod job (SIGTERM, SIGKILL after the
 * grace period, teardown, Stopped), every pod at shutdown, and containers
 * the scheduler does not expect here. What an earlier agent left is
 * PodAdopter's (adopted, recorded, or removed).
 */
export class PodStopper {
  constructor(private readonly deps: PodStopperDeps) {}

  stop(podId: string): Promise<void> {
    const { locks, starts } = this.deps;
    starts.abort(podId, new Error('stopped on request'));
    return locks.with(podId, () => this.stopLocked(podId));
  }

  /** Stops every pod this agent runs (local nodes, on shutdown). */
  async stopAll(): Promise<void> {
    const { runc, logger } = this.deps;
    const running = await runc.list();
    await Promise.all(
      running.map(({ id }) => this.stop(id).catch((e: unknown) => logger.error({ podId: id, err: messageOf(e) }, 'stop failed'))),
    );
  }

  /**
   * Removes containers the scheduler no longer expects here (their pod ended,
   * was deleted or now runs elsewhere): stop, then tear down. The pod record is
   * not touched, since it is not this node's any more.
   */
  async discard(podIds: string[], reason: string): Promise<void> {
    const { runc, sandboxes, locks, stopGraceMs, logger } = this.deps;
    await Promise.all(
      podIds.map((podId) =>
        locks.with(podId, async () => {
          await runc.stop(podId, stopGraceMs).catch((e: unknown) => logger.warn({ podId, err: messageOf(e) }, 'stop failed'));
          await sandboxes.teardown(podId);
          logger.info({ podId, reason }, 'removed a container the scheduler does not expect here');
        }),
      ),
    );
  }

  private async stopLocked(podId: string): Promise<void> {
    const { pods, runc, sandboxes, transitions, exits, stopGraceMs, logger } = this.deps;
    const pod = await pods.get(podId);
    if (!pod) return;
    await exits.whileStopping(podId, async () => {
      const exitCode = await runc.stop(podId, stopGraceMs);
      await sandboxes.teardown(podId);
      if (!isTerminal(pod.phase)) await transitions.finish(pod, 'Stopped', exitCode === undefined ? {} : { exitCode });
      logger.info({ exitCode }, 'pod stopped');
    });
  }
}
