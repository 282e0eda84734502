import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { ChangeFeed, type NodeChange, type NodeRepository, type PoolRepository } from '@warmpod/store';
import type { PlacementView } from '../placement-view';
import type { PoolPass, PoolReconciler } from './pool-reconciler';

export interface PoolControllerOptions {
  /** Events are coalesced for this long before a pass. */
  debounceMs: number;
  /** Every pool is reconciled this often even without events (a missed message, a node gone silent). */
  resyncMs: number;
  /** A pool whose pass failed is tried again after this long. */
  errorRetryMs: number;
}

export const DEFAULT_POOL_CONTROLLER_OPTIONS: PoolControllerOptions = { debounceMs: 50, resyncMs: 15_000, errorRetryMs: 1_000 };

/**
 * The warm pool controller of one scheduler replica.
 *
 * Why in the scheduler: keeping a pool full is a scheduling job. Its inputs
 * are what the scheduler already follows (pod phases through the node
 * registry's inventory reports, `nodes:changed`, `capacity:freed`) and the
 * scheduler's own placement view, so "a node where the digest is ready with
 * room" means exactly what placement will do with the pod; its outputs are
 * pods and schedule-pod jobs. The prepuller stays a mover of images: the
 * controller hands it a pin, and it warms the digest onto the nodes.
 *
 * Several replicas run this at once: every decision that matters (admit a
 * pod, retire one, claim one) is a single Lua step that re-checks the rule,
 * so two replicas acting on the same read cannot overshoot or retire twice.
 *
 * A pass runs when something may have changed: a pool was created, changed,
 * claimed from or deleted (`pools:changed`); a pod ended (`capacity:freed`);
 * a node's images, running pods, cordon or liveness changed (`nodes:changed`,
 * filtered to real changes, plus any report from a node where a pool pod is
 * on its way to Running); and a slow timer. There is no polling loop.
 */
export class PoolController {
  private readonly feed: ChangeFeed;
  private readonly dirty = new Set<string>();
  private allDirty = false;
  private debounce?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private readonly wakes = new Map<string, NodeJS.Timeout>();
  private pass?: Promise<void>;
  private stopped = false;
  /** The last pass of each pool (which nodes it waits on). */
  private readonly passes = new Map<string, PoolPass>();
  private readonly fingerprints = new Map<string, string>();

  constructor(
    redis: Redis,
    prefix: string,
    private readonly nodes: Pick<NodeRepository, 'poolRelevantState'>,
    private readonly pools: Pick<PoolRepository, 'ids'>,
    private readonly reconciler: Pick<PoolReconciler, 'reconcile'>,
    private readonly view: Pick<PlacementView, 'refresh'>,
    private readonly logger: Logger,
    private readonly options: PoolControllerOptions = DEFAULT_POOL_CONTROLLER_OPTIONS,
  ) {
    this.feed = new ChangeFeed(redis, prefix, logger);
  }

  async start(): Promise<void> {
    await this.feed.subscribe({
      pools: (poolId) => this.mark(poolId),
      capacityFreed: () => this.markAll(),
      nodes: (change) => this.onNodeChanged(change),
    });
    this.resync = setInterval(() => this.markAll(), this.options.resyncMs);
    this.resync.unref();
    this.markAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearInterval(this.resync);
    for (const t of this.wakes.values()) clearTimeout(t);
    this.wakes.clear();
    await this.feed.close();
    await this.pass;
  }

  private onNodeChanged({ nodeId, what }: NodeChange): void {
    void this.checkNode(nodeId).catch((e: unknown) => this.logger.warn({ err: messageOf(e), node: nodeId, what }, 'pool trigger failed'));
  }

  /**
   * Change messages also come for changes no pool cares about; only those
   * that matter (and any report from a node a pool is waiting on) start a pass.
   */
  private async checkNode(nodeId: string): Promise<void> {
    const state = await this.nodes.poolRelevantState(nodeId);
    const fingerprint = JSON.stringify([state.fields, state.digests]);
    const changed = this.fingerprints.get(nodeId) !== fingerprint;
    this.fingerprints.set(nodeId, fingerprint);
    if (changed) await this.view.refresh(nodeId);
    if (changed || this.isAwaited(nodeId)) this.markAll();
  }

  private isAwaited(nodeId: string): boolean {
    for (const pass of this.passes.values()) if (pass.awaiting.includes(nodeId)) return true;
    return false;
  }

  private mark(poolId: string): void {
    this.dirty.add(poolId);
    this.schedule();
  }

  private markAll(): void {
    this.allDirty = true;
    this.schedule();
  }

  /** A pass in progress schedules the next one when it ends, so passes never overlap within a replica. */
  private schedule(): void {
    if (this.stopped || this.debounce || this.pass) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.pass = this.runPass().finally(() => {
        this.pass = undefined;
        if (this.dirty.size > 0 || this.allDirty) this.schedule();
      });
    }, this.options.debounceMs);
  }

  /** One pass over the dirty pools. */
  private async runPass(): Promise<void> {
    const ids = this.allDirty ? await this.pools.ids().catch(() => undefined) : [...this.dirty];
    if (!ids) {
      this.wakeLater('*', this.options.errorRetryMs);
      return;
    }
    if (this.allDirty) {
      for (const known of this.passes.keys()) if (!ids.includes(known)) this.passes.delete(known);
    }
    this.allDirty = false;
    this.dirty.clear();
    for (const id of ids) {
      if (this.stopped) return;
      try {
        const pass = await this.reconciler.reconcile(id);
        this.passes.set(id, pass);
        if (pass.wakeAt !== undefined) this.wakeLater(id, pass.wakeAt - Date.now());
      } catch (error) {
        this.logger.warn({ poolId: id, err: messageOf(error) }, 'pool reconcile failed; retrying');
        this.wakeLater(id, this.options.errorRetryMs);
      }
    }
  }

  private wakeLater(poolId: string, ms: number): void {
    if (this.stopped || this.wakes.has(poolId)) return;
    const timer = setTimeout(
      () => {
        this.wakes.delete(poolId);
        if (poolId === '*') this.markAll();
        else this.mark(poolId);
      },
      Math.max(10, ms),
    );
    timer.unref();
    this.wakes.set(poolId, timer);
  }
}
