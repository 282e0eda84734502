/** What a heartbeat tick must do. */
export type HeartbeatDue = { kind: 'reconnect'; silentMs: number } | { kind: 'beat' } | { kind: 'quiet' };

/** Extra silence tolerated on top of three intervals (GC pauses, a busy scheduler). */
const SILENCE_SLACK_MS = 2_000;

/**
 * The clock of one session: when the scheduler was last heard and when the
 * agent last wrote. A scheduler silent for three intervals (plus slack) is
 * taken for gone; a heartbeat goes out only when nothing else was written
 * for half an interval, so change reports double as heartbeats.
 */
export class SessionHeartbeat {
  private lastHeardAt: number;
  private lastSentAt = 0;

  constructor(
    readonly intervalMs: number,
    now = Date.now(),
  ) {
    this.lastHeardAt = now;
  }

  heard(now = Date.now()): void {
    this.lastHeardAt = now;
  }

  wrote(now = Date.now()): void {
    this.lastSentAt = now;
  }

  /** `inventorySent`: heartbeats only follow the session's full inventory. */
  due(now: number, inventorySent: boolean): HeartbeatDue {
    const silentMs = now - this.lastHeardAt;
    if (silentMs > 3 * this.intervalMs + SILENCE_SLACK_MS) return { kind: 'reconnect', silentMs };
    if (inventorySent && now - this.lastSentAt >= this.intervalMs / 2) return { kind: 'beat' };
    return { kind: 'quiet' };
  }
}
