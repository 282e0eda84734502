import { Inject, Injectable } from '@nestjs/common';
import { secondsSince, ServiceMetrics, STEP_SECONDS_BUCKETS, WAIT_SECONDS_BUCKETS, within } from '@warmpod/observability';
import { PoolRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG } from '../providers';

/** How a `POST /v1/pods` ended: a new Pending pod, a warm pod claimed, an idempotent replay, or refused. */
export type AdmissionOutcome = 'admitted' | 'claimed' | 'replay' | 'rejected';
/** A pool claim got a warm pod, or none was free and the pool's template starts the normal way. */
export type ClaimOutcome = 'claimed' | 'fallback';

/** Pools read per scrape at most: the gauge stays cheap however many pools there are. */
const MAX_POOLS_READ = 500;

/**
 * The gateway's own metrics (with the process defaults), at `/metrics` on
 * its API port: admissions, pool claims and warm pool sizes. A warm-pool
 * start is observed here, where it happens: the claim hands out a Running pod.
 * With WARMPOD_METRICS=off nothing is kept and `/metrics` answers 404.
 */
@Injectable()
export class GatewayMetrics {
  readonly metrics: ServiceMetrics;
  private readonly admissionSeconds;
  private readonly claims;
  private readonly podStart;
  private readonly skippedEntries;

  constructor(@Inject(CONFIG) config: GatewayConfig, pools: PoolRepository) {
    this.metrics = new ServiceMetrics('gateway', { enabled: config.observability.metrics });
    this.admissionSeconds = this.metrics.histogram(
      'warmpod_pod_admission_duration_seconds',
      'Time to admit a pod request (validate, pin the digest, record, enqueue; or claim a warm pod), by outcome',
      ['outcome'],
      STEP_SECONDS_BUCKETS,
    );
    this.claims = this.metrics.counter('warmpod_pool_claims_total', 'Pool claims, by outcome', ['outcome']);
    this.podStart = this.metrics.histogram(
      'warmpod_pod_start_duration_seconds',
      'Pod start duration by start mode and segment; the gateway observes warm-pool starts (the claim) only',
      ['mode', 'segment'],
      WAIT_SECONDS_BUCKETS,
    );
    this.skippedEntries = this.metrics.counter(
      'warmpod_event_entries_skipped_total',
      'Event stream entries skipped as not warmpod events (foreign or malformed), each counted once, by the follower that met it first',
      ['reader'],
    );
    this.metrics.gauge('warmpod_warm_pools', 'Warm pools, read on scrape', [], async (gauge) => {
      gauge.set((await within(pools.ids(), 1_000, 'pool ids')).length);
    });
    this.metrics.gauge(
      'warmpod_warm_pool_pods',
      'Pods held in warm pools (warming or Running, not yet claimed), read on scrape',
      [],
      async (gauge) => {
        const ids = (await within(pools.ids(), 1_000, 'pool ids')).slice(0, MAX_POOLS_READ);
        const members = await within(Promise.all(ids.map((id) => pools.members(id))), 1_000, 'pool members');
        gauge.set(members.reduce((sum, m) => sum + m.length, 0));
      },
    );
  }

  admitted(startedMs: number, outcome: AdmissionOutcome): void {
    this.admissionSeconds.observe({ outcome }, secondsSince(startedMs));
  }

  claimed(startedMs: number, outcome: ClaimOutcome): void {
    this.claims.inc({ outcome });
    if (outcome === 'claimed') this.podStart.observe({ mode: 'warm-pool', segment: 'total' }, secondsSince(startedMs));
  }

  eventEntrySkipped(reader: 'pod-changes' | 'event-stream'): void {
    this.skippedEntries.inc({ reader });
  }
}
