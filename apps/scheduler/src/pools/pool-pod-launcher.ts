import { newId } from '@warmpod/domain';
import type { JobBus } from '@warmpod/jobs';
import { messageOf, type Logger } from '@warmpod/observability';
import { poolPodDefinition, type PodRepository, type PoolRecord, type PoolRepository } from '@warmpod/store';
import { NODE_LABEL, type WarmNode } from './warm-nodes';

/** Up to `count` node ids from `targets`, each next one on the node with most room left. */
export function spreadOver(targets: readonly WarmNode[], count: number): WarmNode[] {
  const left = new Map(targets.map((t) => [t.id, t.room]));
  const out: WarmNode[] = [];
  while (out.length < count) {
    let best: WarmNode | undefined;
    for (const t of targets) if ((left.get(t.id) ?? 0) > 0 && (!best || left.get(t.id)! > left.get(best.id)!)) best = t;
    if (!best) break;
    left.set(best.id, left.get(best.id)! - 1);
    out.push(best);
  }
  return out;
}

/**
 * Starts warm pods through the normal path: a pod record, then a
 * schedule-pod job. Each pod first takes a slot in the pool (one Lua step
 * that refuses once the pool has its size of the current digest, or when
 * the digest moved), so replicas racing to refill never overshoot.
 */
export class PoolPodLauncher {
  constructor(
    private readonly pools: PoolRepository,
    private readonly pods: PodRepository,
    private readonly bus: JobBus,
    private readonly graceMs: number,
    private readonly logger: Logger,
  ) {}

  /** Returns the ids of the pods started. */
  async launch(pool: PoolRecord, count: number, targets: readonly WarmNode[]): Promise<string[]> {
    const started: string[] = [];
    for (const target of spreadOver(targets, count)) {
      const podId = newId('pod');
      const admitted = await this.pools.admit(pool.id, podId, pool.image.digest, this.graceMs);
      if (admitted !== 'admitted') {
        this.logger.debug({ pool: pool.name, outcome: admitted }, 'no slot for another warm pod');
        break;
      }
      const def = poolPodDefinition(pool, podId, target.selectable ? { [NODE_LABEL]: target.id } : {});
      try {
        await this.pods.create(def);
      } catch (error) {
        // Give the slot back: a member without a record would otherwise hold it for the grace period.
        await this.pools.prune(pool.id, podId, { graceMs: 0, backoffBaseMs: 0, backoffMaxMs: 0 }).catch(() => undefined);
        throw error;
      }
      if (!(await this.stillWanted(pool, podId))) continue;
      await this.schedule(pool, podId);
      started.push(podId);
    }
    if (started.length > 0) this.logger.info({ pool: pool.name, digest: pool.image.digest, started: started.length }, 'warm pods started');
    return started;
  }

  /**
   * Checked after the record exists: if the pool moved to another digest
   * meanwhile, the move either saw this record (and marked it stop-requested)
   * or this read sees the move. Either way the pod never starts.
   */
  private async stillWanted(pool: PoolRecord, podId: string): Promise<boolean> {
    const now = await this.pools.get(pool.id);
    if (now?.state === 'active' && now.image.digest === pool.image.digest && (await this.pools.isMember(pool.id, podId))) return true;
    const message = `retired by pool ${pool.name}: the pool moved on before this pod was scheduled`;
    await this.pools.retire(pool.id, podId, now?.state === 'draining' ? 'drain' : 'superseded', message, this.graceMs);
    await this.pods.transition(podId, 'Stopped', { message }, undefined, ['Pending']);
    return false;
  }

  /** Sends (or re-sends: the job id deduplicates) the schedule-pod job of a pool pod. */
  async schedule(pool: Pick<PoolRecord, 'id' | 'name'>, podId: string): Promise<void> {
    try {
      await this.bus.toScheduler({ name: 'schedule-pod', data: { podId, requestId: `pool-${pool.id}` } });
    } catch (error) {
      // The pod stays Pending; the next reconcile sends the job again.
      this.logger.warn({ pool: pool.name, podId, err: messageOf(error) }, 'schedule-pod not sent for a warm pod');
    }
  }
}
