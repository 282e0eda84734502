export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed (or what it saw), for the timeout message. */
  detail?: string;
}

export interface StableWaitOptions {
  /** Consecutive successes needed: one lucky probe is not readiness. */
  successThreshold: number;
  /** Pause between probes. */
  intervalMs: number;
  /** Epoch ms after which no probe starts. */
  deadline: number;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface StableResult {
  attempts: number;
  /** From the first probe to the last success. */
  ms: number;
}

export class ReadinessTimeoutError extends Error {
  override readonly name = 'ReadinessTimeoutError';
  constructor(
    message: string,
    readonly attempts: number,
    readonly lastFailure?: string,
  ) {
    super(message);
  }
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Probes until `successThreshold` probes in a row succeed, spaced by
 * `intervalMs`; any failure starts the count again. Rejects with
 * ReadinessTimeoutError (with the last failure) once the deadline passes,
 * or with the signal's reason when aborted.
 */
export async function waitUntilStable(
  probe: (signal?: AbortSignal) => Promise<ProbeOutcome>,
  opts: StableWaitOptions,
): Promise<StableResult> {
  if (!(opts.successThreshold >= 1)) throw new RangeError('successThreshold must be at least 1');
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? sleepFor;
  const started = now();
  let attempts = 0;
  let streak = 0;
  let lastFailure: string | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (now() >= opts.deadline) {
      const seen = streak > 0 ? ` (${streak} of ${opts.successThreshold} consecutive successes)` : '';
      throw new ReadinessTimeoutError(
        `not ready by the deadline after ${attempts} probes${seen}${lastFailure ? `; last failure: ${lastFailure}` : ''}`,
        attempts,
        lastFailure,
      );
    }
    attempts++;
    const outcome = await probe(opts.signal);
    opts.signal?.throwIfAborted();
    if (outcome.ok) {
      if (++streak >= opts.successThreshold) return { attempts, ms: now() - started };
    } else {
      streak = 0;
      lastFailure = outcome.detail ?? 'probe failed';
    }
    await sleep(opts.intervalMs, opts.signal);
  }
}
