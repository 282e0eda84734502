import { isTerminal } from '@warmpod/domain';
import { SCHEDULING_QUEUE, type JobBus } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import type { PodRepository, PoolRecord, PoolRepository } from '@warmpod/store';

const RESEND_STOP_MS = 30_000;

/**
 * Stops the pods a pool retired. Retirement itself is one Lua step (the pod
 * leaves the pool and is marked stop-requested); the pod stays listed as
 * retiring until it has ended, so a replica that dies between the two steps
 * leaves nothing running: whichever replica reconciles next stops it.
 */
export class PoolPodRetirer {
  constructor(
    private readonly pools: PoolRepository,
    private readonly pods: PodRepository,
    private readonly bus: JobBus,
    private readonly logger: Logger,
  ) {}

  /** Returns how many retired pods have not ended yet. */
  async process(pool: Pick<PoolRecord, 'id' | 'name'>, now = Date.now()): Promise<number> {
    let left = 0;
    for (const podId of await this.pools.retiring(pool.id)) {
      if (await this.stop(pool, podId, now)) {
        await this.pools.retired(pool.id, podId);
      } else {
        left++;
      }
    }
    return left;
  }

  /** True once the pod has ended (or is gone). */
  private async stop(pool: Pick<PoolRecord, 'id' | 'name'>, podId: string, now: number): Promise<boolean> {
    let pod = await this.pods.get(podId);
    if (!pod || isTerminal(pod.phase)) return true;
    const message = pod.message?.startsWith('retired by pool') ? undefined : `retired by pool ${pool.name}`;
    const requestId = `pool-${pool.id}`;
    if (pod.phase === 'Pending') {
      const moved = await this.pods.transition(podId, 'Stopped', message ? { message } : {}, undefined, ['Pending']);
      if (moved.applied) {
        await this.bus.withdraw(SCHEDULING_QUEUE, { name: 'schedule-pod', data: { podId, requestId } }).catch(() => undefined);
        return true;
      }
      pod = await this.pods.get(podId);
      if (!pod || isTerminal(pod.phase)) return true;
    }
    // One replica sends the stop (a pod not placed yet is stopped by its agent's check when it is).
    if (!pod.node || !(await this.pools.claimStop(pool.id, podId, RESEND_STOP_MS, now))) return false;
    // Set again: a pod retired before its record existed has no stop mark yet.
    await this.pods.annotate(podId, { stopRequested: true, ...(message ? { message } : {}) });
    await this.bus.toNode(pod.node, { name: 'stop-pod', data: { podId, requestId, reason: 'reconcile' } });
    this.logger.info({ pool: pool.name, podId, node: pod.node, digest: pod.image.digest }, 'warm pod retired');
    return false;
  }
}
