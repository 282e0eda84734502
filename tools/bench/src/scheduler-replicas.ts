import type { SyntheticCluster } from './scheduler-cluster';

/**
 * Phase 2 of `npm run bench:scheduler`, to be filled in by the scheduler
 * lead: the same cluster and pod sequence placed by real scheduler processes.
 * Not run yet because (a) the scheduler still places with `planPlacement`,
 * not `PlacementIndex`, so it would measure the old scorer, and (b)
 * `@warmpod/node-registry` is tagged type:adapter, which the module-boundary
 * rules do not let a type:tool project import: simulated agents need either
 * that rule widened for tools/bench or a simulated-agent helper in a lib the
 * tools may use.
 *
 * Intended shape:
 * 1. Start `replicas` scheduler processes on one Redis prefix (the local
 *    cluster launcher), each with its gRPC node registry on 127.0.0.1.
 * 2. Simulate the 5,000 nodes in this process: one `NodeRegistryClient` per
 *    node registers (labels, capacity, capabilities) and sends its full
 *    inventory (cached images with layers) from `cluster.nodes`, then
 *    heartbeats; no agents, no runc.
 * 3. Enqueue `schedule-pod` jobs for `cluster.pods` (first `podCount`), and
 *    release reservations after each pod's lifetime, as the in-process phase does.
 * 4. Measure placements per second from the first enqueue to the last
 *    Scheduled pod; read back every node's reservations from Redis and count
 *    nodes over capacity (must be 0); count digest hits and bytes fetched from
 *    each pod's recorded placement.
 */
export interface ReplicaPhaseInput {
  cluster: SyntheticCluster;
  replicas: 1 | 2;
  podCount: number;
  redisUrl: string;
}

export interface ReplicaPhaseResult {
  replicas: number;
  placed: number;
  placementsPerSecond: number;
  overcommits: number;
  digestHitShare: number;
  meanBytesFetched: number;
}

export type ReplicaPhaseOutcome = { ran: true; result: ReplicaPhaseResult } | { ran: false; reason: string };

export async function runReplicaPhase(input: ReplicaPhaseInput): Promise<ReplicaPhaseOutcome> {
  return {
    ran: false,
    reason: `not run (${input.replicas} replica${input.replicas > 1 ? 's' : ''}): the scheduler does not place with PlacementIndex yet and tools may not import the node-registry adapter; see tools/bench/src/scheduler-replicas.ts`,
  };
}
