import { JobMetrics } from '@warmpod/jobs';
import { secondsSince, ServiceMetrics, STEP_SECONDS_BUCKETS, within } from '@warmpod/observability';
import { isReady, type NodeRepository } from '@warmpod/store';

/** How one placement attempt ended. */
export type PlacementOutcome = 'scheduled' | 'no_fit' | 'abandoned' | 'error';
/** Whether the chosen node had the whole image already. */
export type CacheResult = 'hit' | 'miss';
export const NODE_STATES = ['ready', 'not_ready', 'lost'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** A node's state from its liveness fields: lost when marked so, else ready while its heartbeat is recent. */
export function nodeState(node: { heartbeatAt: string; lostAt?: string }, readyWindowMs: number, now = Date.now()): NodeState {
  if (node.lostAt) return 'lost';
  return isReady(node, readyWindowMs, now) ? 'ready' : 'not_ready';
}

/**
 * The scheduler's metrics: placements (duration, outcome, cache hits),
 * nodes by state and the scheduling queue (read on scrape), job failures.
 */
export class SchedulerMetrics {
  readonly metrics: ServiceMetrics;
  readonly jobs;
  private readonly placementSeconds;
  private readonly placements;
  private readonly cache;
  private readonly registryRefusals;
  private nodes?: { repo: Pick<NodeRepository, 'heartbeats'>; readyWindowMs: number };

  /** `metrics: false` (WARMPOD_METRICS=off): the calls below count into nothing served. */
  constructor(opts: { metrics?: boolean } = {}) {
    this.metrics = new ServiceMetrics('scheduler', { enabled: opts.metrics ?? true });
    this.jobs = new JobMetrics(this.metrics);
    this.placementSeconds = this.metrics.histogram(
      'warmpod_placement_duration_seconds',
      'Time to place one pod (rank, reserve, record), by outcome',
      ['outcome'],
      STEP_SECONDS_BUCKETS,
    );
    this.placements = this.metrics.counter('warmpod_placements_total', 'Placement attempts, by outcome', ['outcome']);
    this.cache = this.metrics.counter(
      'warmpod_placement_cache_total',
      'Pods placed on a node that had their image already (hit) or still had to fetch some of it (miss)',
      ['result'],
    );
    this.registryRefusals = this.metrics.counter(
      'warmpod_node_registry_refusals_total',
      'Callers the node registry refused for their credentials: unauthenticated (no valid certificate of the cluster CA), not-a-node, other-node (speaking for a node the certificate does not name)',
      ['reason'],
    );
    this.metrics.gauge('warmpod_nodes', 'Registered nodes by state, read on scrape', ['state'], async (gauge) => {
      if (!this.nodes) return;
      const { repo, readyWindowMs } = this.nodes;
      const now = Date.now();
      const counts: Record<NodeState, number> = { ready: 0, not_ready: 0, lost: 0 };
      for (const node of await within(repo.heartbeats(), 1_000, 'node heartbeats')) counts[nodeState(node, readyWindowMs, now)]++;
      for (const state of NODE_STATES) gauge.set({ state }, counts[state]);
    });
  }

  /** Nodes by state come from here from now on. */
  watchNodes(repo: Pick<NodeRepository, 'heartbeats'>, readyWindowMs: number): void {
    this.nodes = { repo, readyWindowMs };
  }

  placed(startedMs: number, outcome: PlacementOutcome): void {
    this.placementSeconds.observe({ outcome }, secondsSince(startedMs));
    this.placements.inc({ outcome });
  }

  cacheResult(result: CacheResult): void {
    this.cache.inc({ result });
  }

  registryRefused(reason: string): void {
    this.registryRefusals.inc({ reason });
  }
}
