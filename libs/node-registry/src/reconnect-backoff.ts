/** Reconnection delays: doubled per failed attempt, capped, with jitter. */
export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: ReconnectBackoff = { initialMs: 250, maxMs: 10_000 };

/**
 * Delay before reconnect attempt `attempt` (0 after a session that worked):
 * doubling, capped, +-20 % jitter so a restarted scheduler is not met by
 * every agent in the same millisecond.
 */
export function backoffDelay(attempt: number, backoff: ReconnectBackoff, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + random() * 0.4));
}

/** The attempt count after a session: a session the scheduler accepted starts the schedule over. */
export function nextAttempt(attempt: number, accepted: boolean): number {
  return accepted ? 0 : attempt + 1;
}
