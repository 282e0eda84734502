import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { ChangeFeed, type NodeRepository } from '@warmpod/store';
import { NodeChangeFilter } from './node-change-filter';
import type { PassReport, PrepullReconciler } from './prepull-reconciler';

export interface LoopSettings {
  /** Changes arriving within this window share one pass. */
  debounceMs: number;
  /** Safety net: a pass at least this often, in case a message was missed. */
  resyncMs: number;
  readyWindowMs: number;
  /** Pause before trying again after a pass failed (Redis away). */
  errorRetryMs: number;
}

/**
 * When to reconcile: on a pin change, on a node change that matters (joined,
 * left, lost, cordoned, labels, cache, pods, back from silence), on a pull
 * that was claimed or ended (a slot may be free), on freed capacity while a
 * rotation or hint waits for pods to end, on a new hint; debounced, one pass
 * at a time, plus a slow safety timer and a timer for the next cooldown or
 * rate-limit token. Never polls for work.
 */
export class PrepullLoop {
  private readonly filter: NodeChangeFilter;
  private readonly feed: ChangeFeed;
  private debounce?: NodeJS.Timeout;
  private wake?: { timer: NodeJS.Timeout; at: number };
  private resync?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly dirtyNodes = new Set<string>();
  private nodeFlush?: NodeJS.Timeout;
  private last?: PassReport;
  private readonly listeners: Array<(report: PassReport) => void> = [];

  constructor(
    redis: Redis,
    prefix: string,
    private readonly reconciler: PrepullReconciler,
    private readonly nodes: NodeRepository,
    private readonly settings: LoopSettings,
    private readonly logger: Logger,
  ) {
    this.feed = new ChangeFeed(redis, prefix, logger);
    this.filter = new NodeChangeFilter(settings.readyWindowMs);
  }

  async start(): Promise<void> {
    await this.feed.subscribe({
      // A pin is what a client waits on, and comes alone: no window to share.
      pins: () => this.triggerNow(),
      pulls: () => this.trigger(),
      prepullHints: () => this.trigger(),
      nodes: (change) => this.nodeChanged(change.nodeId),
      // A pod ended: only rotation (old digest in use) and hint placement care.
      capacityFreed: () => {
        if (this.last && (this.last.rotating > 0 || this.last.hintsOpen > 0)) this.trigger();
      },
    });
    this.resync = setInterval(() => this.trigger(), this.settings.resyncMs);
    this.resync.unref();
    this.trigger(0);
  }

  /** Called after every pass (tests, metrics). */
  onPass(listener: (report: PassReport) => void): void {
    this.listeners.push(listener);
  }

  /** Runs a pass after the debounce window (or `delayMs`), unless one is already due. */
  trigger(delayMs = this.settings.debounceMs): void {
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.run();
    }, delayMs);
  }

  /** Runs a pass at once, whether or not one is waiting out the debounce window (it is folded into this one). */
  private triggerNow(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = undefined;
    this.trigger(0);
  }

  private nodeChanged(id: string): void {
    this.dirtyNodes.add(id);
    this.nodeFlush ??= setTimeout(() => {
      this.nodeFlush = undefined;
      const ids = [...this.dirtyNodes];
      this.dirtyNodes.clear();
      void this.checkNodes(ids).catch((e: unknown) => {
        this.logger.warn({ err: messageOf(e) }, 'node change check failed');
        this.trigger();
      });
    }, this.settings.debounceMs);
  }

  private async checkNodes(ids: string[]): Promise<void> {
    const records = await Promise.all(ids.map((id) => this.nodes.get(id)));
    const now = Date.now();
    // Observe every node (no short-circuit), so the filter stays current.
    const changed = ids.map((id, i) => this.filter.observe(id, records[i], now)).filter(Boolean).length;
    if (changed > 0) this.trigger(0);
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.trigger();
      }
    });
    await this.running;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    try {
      const report = await this.reconciler.reconcile();
      this.last = report;
      this.filter.reset(report.nodes, Date.now());
      if (report.claimed.length > 0 || report.droppedPins.length > 0 || report.droppedHints.length > 0) {
        this.logger.info(
          {
            claimed: report.claimed.length,
            droppedPins: report.droppedPins,
            droppedHints: report.droppedHints.length,
            rotating: report.rotating,
          },
          'prepull pass',
        );
      }
      if (report.wakeAt !== undefined) this.wakeAt(report.wakeAt);
      for (const listener of this.listeners) listener(report);
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, 'prepull pass failed; trying again');
      this.wakeAt(Date.now() + this.settings.errorRetryMs);
    }
  }

  private wakeAt(at: number): void {
    if (this.stopped || (this.wake && this.wake.at <= at)) return;
    clearTimeout(this.wake?.timer);
    const timer = setTimeout(
      () => {
        this.wake = undefined;
        this.trigger(0);
      },
      Math.max(0, at - Date.now()),
    );
    this.wake = { timer, at };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearTimeout(this.wake?.timer);
    clearTimeout(this.nodeFlush);
    clearInterval(this.resync);
    await this.running?.catch(() => undefined);
    await this.feed.close();
  }
}
