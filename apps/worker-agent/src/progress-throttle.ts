/**
 * Passes on the latest of a stream of values at a bounded rate: at most one
 * write per `intervalMs`, always the newest value, writes never overlapping,
 * and on `flush` the last value right away. A pull's progress events arrive
 * per network chunk; the store sees a few per second.
 */
export class ProgressThrottle<T> {
  private pending?: { value: T };
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private inflight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly write: (value: T) => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (error: Error) => void,
    private readonly now: () => number = Date.now,
  ) {}

  push(value: T): void {
    if (this.closed) return;
    this.pending = { value };
    if (!this.timer && !this.inflight) this.schedule();
  }

  /** Writes the last value (if not written yet) and waits for every write; later pushes are ignored. */
  async flush(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    const last = this.pending;
    this.pending = undefined;
    if (last) await this.write(last.value).catch((error: Error) => this.onError(error));
  }

  private schedule(): void {
    const wait = this.lastWriteAt + this.intervalMs - this.now();
    if (wait <= 0) this.writeNow();
    else this.timer = setTimeout(() => this.writeNow(), wait);
  }

  private writeNow(): void {
    this.timer = undefined;
    const next = this.pending;
    if (!next || this.closed) return;
    this.pending = undefined;
    this.lastWriteAt = this.now();
    this.inflight = this.write(next.value)
      .catch((error: Error) => this.onError(error))
      .finally(() => {
        this.inflight = undefined;
        if (this.pending && !this.closed) this.schedule();
      });
  }
}
