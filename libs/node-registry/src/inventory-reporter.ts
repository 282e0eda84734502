import { messageOf, type Logger } from '@warmpod/observability';
import {
  changes,
  INVENTORY_PARTS,
  inventoryMessage,
  snapshot,
  wholeInventory,
  withParts,
  type AgentInventory,
  type InventoryPart,
  type InventoryParts,
  type SentState,
} from './inventory-diff';
import type { NodeReportBody } from './messages';

export interface InventoryReporterOptions {
  /**
   * Collects the parts asked for (every part for the session's first report;
   * for a change report, those that changed: listing running containers, say,
   * costs a process spawn that an image pull has no need of).
   */
  collect: (parts: ReadonlySet<InventoryPart>) => Promise<InventoryParts>;
  /** Writes one report on the session's stream. */
  send: (body: NodeReportBody) => void;
  /** False once the session's stream ended: nothing collected after that is sent. */
  isOpen: () => boolean;
  /** Change reports are sent at most this often. */
  coalesceMs: number;
  logger: Logger;
}

/**
 * The inventory side of one session: the full inventory first, then a change
 * report (a delta against what was last sent) soon after something changed,
 * a burst of changes coalesced into one collection.
 */
export class InventoryReporter {
  private sent?: SentState;
  /** The last collected inventory, whole: the parts a change report does not collect are taken from it. */
  private last?: AgentInventory;
  /** Parts changed since they were last collected. */
  private dirty = new Set<InventoryPart>();
  private stopped = false;
  private flushing?: Promise<void>;
  private flushTimer?: NodeJS.Timeout;
  private lastFlushAt = 0;

  constructor(private readonly opts: InventoryReporterOptions) {}

  /** Whether the full inventory went out: change reports and heartbeats only follow it. */
  get inventorySent(): boolean {
    return this.sent !== undefined;
  }

  /** Collects and sends the full inventory, the first report of a session. */
  async sendInventory(): Promise<void> {
    this.dirty.clear();
    const inventory = wholeInventory(await this.opts.collect(INVENTORY_PARTS));
    if (!this.opts.isOpen()) return;
    this.opts.send({ inventory: inventoryMessage(inventory) });
    this.sent = snapshot(inventory);
    this.last = inventory;
    if (this.dirty.size > 0) this.scheduleFlush();
  }

  /** Something on the node changed (`part`, or anything): report it within the coalescing window. */
  changed(part?: InventoryPart): void {
    for (const p of part ? [part] : INVENTORY_PARTS) this.dirty.add(p);
    this.scheduleFlush();
  }

  /** A change whose collection failed (or is still waiting) is tried again. */
  retryPending(): void {
    if (this.dirty.size > 0) this.scheduleFlush();
  }

  /** No further reports are scheduled (the agent is stopping, or the stream ended). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** A change report still pending (e.g. pods stopped on shutdown) goes out now. */
  async lastReport(): Promise<void> {
    await this.flushing;
    if (this.dirty.size > 0 && this.opts.isOpen() && this.sent) await this.flush();
  }

  private scheduleFlush(): void {
    if (!this.opts.isOpen() || !this.sent || this.flushTimer || this.flushing || this.stopped) return;
    const wait = Math.max(0, this.lastFlushAt + this.opts.coalesceMs - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, wait);
  }

  private flush(): Promise<void> {
    const flushing = this.collectAndReport().finally(() => {
      if (this.flushing === flushing) this.flushing = undefined;
    });
    this.flushing = flushing;
    return flushing;
  }

  private async collectAndReport(): Promise<void> {
    const sent = this.sent;
    const last = this.last;
    if (!this.opts.isOpen() || !sent || !last) return;
    const parts = this.dirty;
    this.dirty = new Set();
    let retryLater = false;
    try {
      const now = withParts(last, await this.opts.collect(parts));
      this.last = now;
      if (!this.opts.isOpen()) return;
      const delta = changes(sent, now);
      if (delta) {
        this.opts.send({ delta });
        this.sent = snapshot(now);
      }
    } catch (error) {
      this.opts.logger.warn({ err: messageOf(error) }, 'could not collect the inventory; will report at the next heartbeat');
      retryLater = true;
    } finally {
      this.lastFlushAt = Date.now();
    }
    if (retryLater) for (const p of parts) this.dirty.add(p);
    else if (this.dirty.size > 0) setImmediate(() => this.scheduleFlush());
  }
}
