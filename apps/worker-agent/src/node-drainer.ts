import type { RuncRuntime } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { NodeReservations, PodRepository } from '@warmpod/store';
import { decideEvacuation, DrainAbort, drainedReason, type Evacuation } from './node-drain';
import type { PodExitWatcher } from './pod-exit-watcher';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes } from './pod-sandbox';
import type { PodStarter } from './pod-starter';
import type { PodTransitions } from './pod-transitions';

export interface NodeDrainerDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'transition'>;
  reservations: Pick<NodeReservations, 'list' | 'release'>;
  runc: Pick<RuncRuntime, 'stop'>;
  sandboxes: Pick<PodSandboxes, 'teardown'>;
  locks: PodLocks;
  transitions: Pick<PodTransitions, 'finish'>;
  exits: Pick<PodExitWatcher, 'whileStopping'>;
  starts: Pick<PodStarter, 'abort'>;
  /** Hands a pod put back to Pending to the scheduler (a schedule-pod job of its new generation). */
  reschedule: (podId: string, generation: number) => Promise<void>;
  stopGraceMs: number;
  logger: Logger;
}

/** What one drain did, by decision. */
export type DrainCounts = Record<Evacuation | 'failed', number>;

/**
 * Empties a node that leaves the cluster: every pod holding a reservation
 * here is moved elsewhere or stopped by its restart policy (`node-drain.ts`),
 * one pass after another until no reservation is left. The node already
 * refuses new reservations (its drain mark), so passes converge: only pods
 * a scheduler replica was placing here at the mark remain to be waited for.
 */
export class NodeDrainer {
  constructor(private readonly deps: NodeDrainerDeps) {}

  /** Resolves once the node holds no reservation; after `waitMs`, pods still being placed here are released too. */
  async drain(waitMs = 30_000, pollMs = 200): Promise<DrainCounts> {
    const { nodeId, reservations, logger } = this.deps;
    const counts: DrainCounts = { move: 0, stop: 0, wait: 0, release: 0, failed: 0 };
    const deadline = Date.now() + waitMs;
    for (;;) {
      const reserved = await reservations.list(nodeId);
      if (reserved.length === 0) break;
      const overdue = Date.now() >= deadline;
      const done = await Promise.all(reserved.map((podId) => this.evacuate(podId, overdue)));
      for (const d of done) counts[d]++;
      if (done.every((d) => d !== 'wait' && d !== 'failed')) continue;
      if (overdue) {
        logger.error({ left: reserved.length }, 'drain gave up on pods it could not move');
        break;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    logger.info(counts, 'node drained');
    return counts;
  }

  private evacuate(podId: string, overdue: boolean): Promise<Evacuation | 'failed'> {
    const { nodeId, pods, reservations, locks, starts, logger } = this.deps;
    // A start under way (pull, readiness wait, restore) is cut short rather than waited for.
    starts.abort(podId, new DrainAbort(drainedReason(nodeId)));
    return locks.with(podId, async () => {
      try {
        const decision = decideEvacuation(await pods.get(podId), nodeId);
        if (decision === 'wait' && !overdue) return decision;
        if (decision === 'move' || decision === 'stop') await this.endHere(podId, decision);
        else await reservations.release(nodeId, podId);
        return decision === 'wait' ? 'release' : decision;
      } catch (error) {
        logger.error({ podId, err: messageOf(error) }, 'moving a pod off the draining node failed');
        return 'failed';
      }
    });
  }

  /** Stops the container and removes what it left, then ends the pod here: Stopped, or Lost and Pending again. */
  private async endHere(podId: string, decision: 'move' | 'stop'): Promise<void> {
    const { nodeId, pods, reservations, runc, sandboxes, transitions, exits, reschedule, stopGraceMs, logger } = this.deps;
    await exits.whileStopping(podId, async () => {
      const exitCode = await runc.stop(podId, stopGraceMs);
      await sandboxes.teardown(podId);
      const pod = await pods.get(podId);
      if (!pod || pod.node !== nodeId) return reservations.release(nodeId, podId);
      const reason = drainedReason(nodeId);
      if (decision === 'stop') {
        await transitions.finish(pod, 'Stopped', { error: reason, ...(exitCode === undefined ? {} : { exitCode }) });
        logger.info({ podId }, 'pod stopped: its node was drained');
        return;
      }
      // The one way back to Pending is through Lost (the domain's phase rules), as after a node loss.
      await transitions.finish(pod, 'Lost', { error: reason });
      const generation = pod.restarts + 1;
      const back = await pods.transition(podId, 'Pending', {
        node: null,
        placement: null,
        startMode: null,
        exitCode: null,
        error: null,
        message: `placed again: ${reason}`,
        restarts: generation,
      });
      if (back.applied) await reschedule(podId, generation);
      logger.info({ podId, generation }, 'pod moved off the draining node');
    });
  }
}
