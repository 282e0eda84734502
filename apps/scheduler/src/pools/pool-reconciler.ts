import type { Logger } from '@warmpod/observability';
import type { PodRepository, PoolRecord, PoolRepository, PruneOptions, RetireMode } from '@warmpod/store';
import { planPool, type MemberView } from './pool-plan';
import type { PoolPins } from './pool-pins';
import type { PoolPodLauncher } from './pool-pod-launcher';
import type { PoolPodRetirer } from './pool-pod-retirer';
import type { WarmNodes } from './warm-nodes';

export interface PoolReconcilerPorts {
  pools: PoolRepository;
  pods: PodRepository;
  pins: PoolPins;
  launcher: PoolPodLauncher;
  retirer: PoolPodRetirer;
  warmNodes: WarmNodes;
}

export interface PoolTimings extends PruneOptions {
  /** A pod Running this long proves the template stays up: the refill backoff is cleared. */
  stableMs: number;
  /** A Pending warm pod older than this gets its schedule-pod job sent again (deduplicated by id). */
  resendScheduleMs: number;
}

/** What one pass saw, for the triggers: which nodes to listen to, and when to come back. */
export interface PoolPass {
  /** Nodes where a member is on its way to Running. */
  awaiting: string[];
  /** The pool wants pods but backs off until then (ms), after pods of its template ended on their own. */
  wakeAt?: number;
}

const IDLE: PoolPass = { awaiting: [] };

/** One pool, one pass: read, plan, then act through steps the store re-checks atomically. */
export class PoolReconciler {
  constructor(
    private readonly ports: PoolReconcilerPorts,
    private readonly timings: PoolTimings,
    private readonly logger: Logger,
  ) {}

  async reconcile(poolId: string, now = Date.now()): Promise<PoolPass> {
    const { pools, pins, retirer } = this.ports;
    const pool = await pools.get(poolId);
    if (!pool) return IDLE;
    const members = await this.memberViews(pool);
    const plan = planPool({ pool, members, now, graceMs: this.timings.graceMs, stableMs: this.timings.stableMs });

    for (const podId of plan.prune) {
      const ended = await pools.prune(pool.id, podId, this.timings, now);
      if (ended !== 'live' && ended !== 'absent')
        this.logger.info({ pool: pool.name, podId, ended }, 'warm pod ended before it was claimed');
    }
    let retired = 0;
    for (const { podId, mode } of plan.retire) {
      const outcome = await pools.retire(pool.id, podId, mode, retireMessage(pool, mode), this.timings.graceMs, now);
      if (outcome === 'retired') retired++;
    }
    const stillRetiring = await retirer.process(pool, now);

    if (pool.state === 'draining') {
      if (members.length - plan.prune.length - retired === 0 && stillRetiring === 0) {
        // The pin goes first: a draining pool never pins again, and its removal below is re-checked.
        await pins.release(pool);
        if (await pools.finishDrain(pool)) this.logger.info({ pool: pool.name, id: pool.id }, 'pool drained and removed');
      }
      return { awaiting: plan.awaiting };
    }

    await pins.ensure(pool);
    if (plan.stable && pool.failStreak > 0) await pools.clearBackoff(pool.id);
    if (plan.old === 0) await pins.dropOld(pool);
    for (const m of plan.pending) {
      if (now - m.admittedAt >= this.timings.resendScheduleMs) await this.ports.launcher.schedule(pool, m.podId);
    }
    return { awaiting: plan.awaiting, ...(await this.refill(pool, plan.start, now)) };
  }

  /** Starts what the pool is short of, on nodes holding its digest; none there yet means the prepuller is still warming it. */
  private async refill(pool: PoolRecord, wanted: number, now: number): Promise<Pick<PoolPass, 'wakeAt'>> {
    if (wanted === 0) return {};
    if (pool.backoffUntil > now) return { wakeAt: pool.backoffUntil };
    const targets = await this.ports.warmNodes.find(pool);
    if (targets.length === 0) {
      this.logger.debug({ pool: pool.name, digest: pool.image.digest, wanted }, 'waiting for a node holding the pool digest');
      return {};
    }
    await this.ports.launcher.launch(pool, wanted, targets);
    return {};
  }

  private async memberViews(pool: PoolRecord): Promise<MemberView[]> {
    const members = await this.ports.pools.members(pool.id);
    const { pods } = this.ports;
    const seen = await Promise.all(members.map((m) => Promise.all([pods.get(m.podId), pods.isStopRequested(m.podId)])));
    return members.map((m, i) => {
      const [pod, stopRequested] = seen[i]!;
      if (!pod) return { ...m, stopRequested: false };
      const running = pod.phase === 'Running' && pod.timeline.Running ? { runningSince: Date.parse(pod.timeline.Running) } : {};
      return { ...m, phase: pod.phase, ...(pod.node ? { node: pod.node } : {}), stopRequested, ...running };
    });
  }
}

function retireMessage(pool: PoolRecord, mode: RetireMode): string {
  const digest = pool.image.digest.slice(0, 19);
  switch (mode) {
    case 'drain':
      return `retired by pool ${pool.name}: the pool was deleted`;
    case 'superseded':
      return `retired by pool ${pool.name}: the pool moved to ${digest} before this pod ran`;
    case 'rotate':
      return `retired by pool ${pool.name}: replaced by a Running pod of ${digest}`;
    case 'shrink':
      return `retired by pool ${pool.name}: the pool was resized to ${pool.size}`;
  }
}
