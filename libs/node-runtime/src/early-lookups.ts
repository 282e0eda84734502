/**
 * Lookups started ahead of the step that needs them (a pinned image's
 * manifest while the pull still waits for its disk budget), taken once by
 * that step. Content addressed, so a result cannot go stale; one that is
 * never taken (the pull was refused) is dropped after `keepMs`.
 */
export class EarlyLookups<T> {
  private readonly pending = new Map<string, { result: Promise<T>; timer: NodeJS.Timeout }>();

  constructor(private readonly keepMs = 30_000) {}

  /** Starts `lookup` for `key` unless one is pending already. */
  start(key: string, lookup: () => Promise<T>): void {
    if (this.pending.has(key)) return;
    const result = lookup();
    // Taken and awaited by the step; a failure nobody takes is dropped with it.
    result.catch(() => undefined);
    const timer = setTimeout(() => this.pending.delete(key), this.keepMs);
    timer.unref();
    this.pending.set(key, { result, timer });
  }

  /** The pending lookup for `key`, once; undefined when none was started. */
  take(key: string): Promise<T> | undefined {
    const entry = this.pending.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    return entry.result;
  }
}
