import type { ServiceProcess } from './service-process';

/** A service that died and is started again after `delayMs`. */
export interface RestartNotice {
  name: string;
  code: number | null;
  delayMs: number;
  /** How many restarts in a row, without a stable run between them. */
  attempt: number;
}

export interface SupervisorOptions {
  /** First restart delay; doubled per quick death, capped at `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A run this long counts as stable: the next death restarts after the initial delay again. */
  stableAfterMs?: number;
}

/**
 * Keeps the cluster's processes running like a DaemonSet keeps its pods: a
 * service that dies unexpectedly is started again with its original
 * settings, after a backoff that grows while it keeps dying quickly. A
 * service held down (a test hook killing a node on purpose) or a cluster
 * stopping is left alone, and so is one that ended with code 0 on its own:
 * a service exits 0 only when it finished on purpose (an agent whose node
 * was drained left the cluster).
 */
export class Supervisor {
  private readonly current = new Map<string, ServiceProcess>();
  private readonly held = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners: Array<(notice: RestartNotice) => void> = [];
  private stopped = false;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stableAfterMs: number;

  constructor(opts: SupervisorOptions = {}) {
    this.initialDelayMs = opts.initialDelayMs ?? 500;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.stableAfterMs = opts.stableAfterMs ?? 30_000;
  }

  /** The running instance of each supervised service, by name. */
  services(): ServiceProcess[] {
    return [...this.current.values()];
  }

  get(name: string): ServiceProcess | undefined {
    return this.current.get(name);
  }

  /** Starts watching `service` (a new one, or the replacement of one of the same name). */
  watch(service: ServiceProcess): void {
    this.current.set(service.name, service);
    const startedAt = Date.now();
    service.onExit((code) => {
      if (this.stopped || this.held.has(service.name) || this.current.get(service.name) !== service) return;
      if (code === 0) return;
      const attempt = Date.now() - startedAt >= this.stableAfterMs ? 1 : (this.attempts.get(service.name) ?? 0) + 1;
      this.attempts.set(service.name, attempt);
      const delayMs = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (attempt - 1));
      for (const listener of this.listeners) listener({ name: service.name, code, delayMs, attempt });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.stopped || this.held.has(service.name) || this.current.get(service.name) !== service) return;
        this.watch(service.respawn());
      }, delayMs);
      this.timers.add(timer);
    });
  }

  /** Not restarted until `release` (a node killed on purpose stays dead). */
  hold(name: string): void {
    this.held.add(name);
  }

  release(name: string): void {
    this.held.delete(name);
    this.attempts.delete(name);
  }

  onRestart(listener: (notice: RestartNotice) => void): void {
    this.listeners.push(listener);
  }

  /** No more restarts: the cluster is stopping. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
