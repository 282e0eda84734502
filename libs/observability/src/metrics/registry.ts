import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds buckets for what a person waits on: 5 ms to 5 min (pod starts, pulls, restores). */
export const WAIT_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Seconds buckets for quick internal steps: 0.5 ms to 10 s (placement). */
export const STEP_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** Bytes buckets for image pulls: 1 MiB to 16 GiB, by powers of four. */
export const PULL_BYTES_BUCKETS = Array.from({ length: 8 }, (_, i) => 2 ** (20 + 2 * i));

/**
 * One process's metrics: a registry of its own (never the global one, so
 * tests can run several services in one process), labelled with the
 * service, with Node's default process metrics (CPU, memory, event loop lag,
 * GC) and helpers that fix the conventions: names under `warmpod_`, units
 * in the name, counters ending `_total`, bounded label sets.
 *
 * Off (`WARMPOD_METRICS=off`), the metrics still exist, so callers need no
 * branch, but they belong to no registry: nothing reads them, no default
 * process metrics are sampled, no gauge is read, and `/metrics` answers 404.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly enabled: boolean;
  private collectorUp?: Gauge<'metric'>;

  constructor(
    readonly service: string,
    opts: { enabled?: boolean } = {},
  ) {
    this.enabled = opts.enabled ?? true;
    this.registry.setDefaultLabels({ service });
    if (this.enabled) collectDefaultMetrics({ register: this.registry });
  }

  /** Where a metric is registered: this registry, or none when metrics are off. */
  private get registers(): Registry[] {
    return this.enabled ? [this.registry] : [];
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    return new Counter({ name, help, labelNames, registers: this.registers });
  }

  /**
   * A gauge; with `collect`, its values are read on each scrape. A collect
   * that fails (Redis away) leaves the gauge empty and sets
   * `warmpod_metric_collect_up{metric}` to 0: the scrape is still served.
   */
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (g: Gauge<L>) => Promise<void> | void,
  ): Gauge<L> {
    if (!collect) return new Gauge({ name, help, labelNames, registers: this.registers });
    const up = (this.collectorUp ??= new Gauge({
      name: 'warmpod_metric_collect_up',
      help: 'Whether a metric read on scrape could be read (1) or not (0) at the last scrape',
      labelNames: ['metric'],
      registers: this.registers,
    }));
    return new Gauge({
      name,
      help,
      labelNames,
      registers: this.registers,
      async collect(this: Gauge<L>) {
        try {
          await collect(this);
          up.set({ metric: name }, 1);
        } catch {
          this.reset();
          up.set({ metric: name }, 0);
        }
      },
    });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    if (!/_(seconds|bytes)$/.test(name)) throw new Error(`histogram ${name} must name its unit (_seconds or _bytes)`);
    return new Histogram({ name, help, labelNames, buckets: [...buckets], registers: this.registers });
  }

  /** The exposition text of every metric, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Seconds since `startedMs` (a `Date.now()` value). */
export function secondsSince(startedMs: number, now = Date.now()): number {
  return Math.max(0, (now - startedMs) / 1000);
}
