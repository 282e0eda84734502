import type { Logger } from '@warmpod/observability';
import type { NodeView } from './node-view';

export interface CordonStore {
  /** False while the node is not registered yet. */
  setCordoned(id: string, cordoned: boolean): Promise<boolean>;
}

/**
 * Mirrors the Node's cordon into warmpod. It lifts only a cordon it set
 * itself: an operator's warmpod cordon survives the Node becoming
 * schedulable. A write before the node has registered is retried.
 */
export class CordonSync {
  private ours = false;
  private want?: boolean;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly nodeId: string,
    private readonly store: CordonStore,
    private readonly logger: Logger,
    private readonly retryMs = 2_000,
  ) {}

  apply(view: NodeView | undefined): void {
    const cordoned = view === undefined || view.cordoned;
    // Already so, or nothing of ours to lift: a pending write is no longer wanted.
    if (cordoned === this.ours || (!cordoned && !this.ours)) {
      this.want = undefined;
      clearTimeout(this.timer);
      return;
    }
    if (this.want === cordoned) return;
    this.want = cordoned;
    const reason = view === undefined ? 'the Node was deleted: draining' : (view.cordonReason ?? 'the Node is schedulable again');
    this.logger.info({ cordoned, reason }, 'mirroring the Node cordon');
    void this.write();
  }

  private async write(): Promise<void> {
    clearTimeout(this.timer);
    const want = this.want;
    if (want === undefined) return;
    const done = await this.store.setCordoned(this.nodeId, want).catch((error: Error) => {
      this.logger.warn({ err: error.message }, 'cordon write failed; retrying');
      return false;
    });
    if (this.want !== want) return;
    if (done) {
      this.ours = want;
      this.want = undefined;
    } else this.timer = setTimeout(() => void this.write(), this.retryMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.want = undefined;
  }
}
