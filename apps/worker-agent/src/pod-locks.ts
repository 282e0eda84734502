/** Serialises work on one pod (start, stop, exit) inside this agent. */
export class PodLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  async with<T>(podId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(podId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.tails.set(podId, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(podId) === tail) this.tails.delete(podId);
    }
  }
}
