import { watch, type FSWatcher } from 'node:fs';

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

export interface WatchDirOptions {
  /** Names what is awaited, for the timeout message. */
  what: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves with the first defined result of `check`, evaluated once right
 * away and again after every change inside `dir` (inotify through fs.watch,
 * so a file written by another process is seen at once, without polling).
 * Checks never overlap; a change during a check triggers one more.
 */
export function watchDirUntil<T>(dir: string, check: () => Promise<T | undefined>, opts: WatchDirOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let running = false;
    let again = false;
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;

    const onAbort = (): void => finish(() => reject(opts.signal?.reason));
    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      watcher?.close();
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      settle();
    }
    async function evaluate(): Promise<void> {
      if (settled) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const value = await check();
          if (value !== undefined) return finish(() => resolve(value));
        } while (again && !settled);
      } catch (error) {
        finish(() => reject(error));
      } finally {
        running = false;
      }
    }

    if (opts.signal?.aborted) return onAbort();
    try {
      watcher = watch(dir, () => void evaluate());
      watcher.on('error', (error) => finish(() => reject(error)));
    } catch (error) {
      return finish(() => reject(error));
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      timer = setTimeout(() => finish(() => reject(new WaitTimeoutError(`no ${opts.what} after ${ms} ms`))), ms);
    }
    void evaluate();
  });
}
