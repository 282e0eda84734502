export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * Waits for `work`, failing with a `TimeoutError` that names `what` after
 * `ms`: a bound, not a sleep. The timer is cleared as soon as `work`
 * settles; `work` itself is not cancelled when time runs out.
 */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Best-effort steps (shutdown): waits for `work` at most `ms`; false when the time ran out first. */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await within(work, ms, 'work');
    return true;
  } catch (error) {
    if (error instanceof TimeoutError) return false;
    throw error;
  }
}
