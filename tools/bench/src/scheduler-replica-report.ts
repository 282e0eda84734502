import { CLUSTER_SHAPE } from './scheduler-cluster';
import { REPLICA_SETTINGS, type ReplicaPhaseOutcome } from './scheduler-replicas';

const GB = 1e9;

/** Phase 1's best-achievable reference, to set phase 2's quality against. */
export interface BestReference {
  hitShare: number;
  meanBytesFetched: number;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** Phase 2's table (one row per replica count) and what its numbers mean. */
export function replicaPhaseReport(outcomes: ReplicaPhaseOutcome[], best: BestReference): string {
  const header = [
    'scheduler replicas',
    'pods placed (waiting / not reached / failed)',
    'placements/s',
    'overcommits',
    'on a node holding the digest',
    'vs best (run)',
    'mean GB fetched / pod',
    'vs best (run)',
    'registration',
    'run (cap)',
    'CPU s: replicas / Redis / bench',
  ];
  const rows = outcomes.map((o) => {
    if (!o.ran) return [String(o.replicas), o.reason, ...header.slice(2).map(() => '-')];
    const r = o.result;
    return [
      String(r.replicas),
      `${count(r.placed)} (${count(r.waiting)} / ${count(r.notReached)} / ${count(r.failed)})`,
      count(r.placementsPerSecond),
      `${r.overcommits}${r.ledgerMismatches > 0 ? ` (+${r.ledgerMismatches} ledger mismatches)` : ''}`,
      `${pct(r.digestHitShare)}${r.inconsistentRecords > 0 ? ` (${r.inconsistentRecords} records: reason and bytes disagree)` : ''}`,
      pct(r.digestHitShare / best.hitShare),
      (r.meanBytesFetched / GB).toFixed(3),
      `${(r.meanBytesFetched / best.meanBytesFetched).toFixed(2)}x`,
      `${r.registrationSeconds.toFixed(0)} s`,
      `${r.runSeconds.toFixed(0)} s (${r.runCapSeconds.toFixed(0)} s)${r.timedOut ? ' cut short' : ''}`,
      `${r.cpu.replicas.map((c) => c.toFixed(0)).join('+')} / ${r.cpu.redis.toFixed(0)} / ${r.cpu.bench.toFixed(0)}`,
    ];
  });
  const ran = outcomes.flatMap((o) => (o.ran ? [o.result] : []));
  const notes = [
    `Nodes: the ${ran[0]?.nodesRegistered ?? 'ready'} ready nodes of the same cluster, simulated in the bench ` +
      `process: one real NodeRegistryClient (the agent's gRPC client) per node registers with a replica's node ` +
      `registry over loopback gRPC (labels incl. pool and zone, capacity, GPUs) and sends its full inventory (cached ` +
      `images with layers); no agent processes, no runc, no image pulls. A node "pulls" by reporting the image in a ` +
      `change report as soon as a pod is placed on it; background workloads are one reservation per node, taken ` +
      `before its inventory is sent; cordoned nodes are cordoned through the store; not-ready nodes are not ` +
      `registered. Replicas run with a ${REPLICA_SETTINGS.readyWindowMs / 60_000}-minute ready window, ` +
      `${REPLICA_SETTINGS.heartbeatMs / 1000} s heartbeats and SCHEDULER_CONCURRENCY=${REPLICA_SETTINGS.concurrency}, ` +
      `so nodes need not heartbeat during a run.`,
    `Pods: the same sequence as above (each pod's resources and nodeSelector), stored Pending with its image layers ` +
      `recorded, schedule-pod jobs enqueued through JobBus into a paused queue, then released at once. The bench ends ` +
      `each pod ${CLUSTER_SHAPE.meanLifetime} placements later on average (its lifetime, counting pods dealt with: ` +
      `placed or waiting), writing Starting, Running, then Succeeded with exit code 0, which releases the reservation ` +
      `and wakes the backlog. Pods that do not fit stay Pending and retry; "waiting" were tried and had no room when ` +
      `the run ended, "not reached" were never tried (the run was cut short).`,
    'placements/s: pods that reached Scheduled / time from the first to the last Scheduled timestamp. It includes ' +
      "the BullMQ hand-off (job fetch, lock, completion), the handler's Redis reads and writes (pod record, layers, " +
      "backlog), planning on the replica's view, the Lua reservation, the Scheduled transition, the start-pod " +
      'enqueue, and everything else the replicas do meanwhile (view refreshes on change messages, periodic full ' +
      'resyncs, node registry streams). It excludes admission (pods and jobs are stored before the clock starts), ' +
      "agents starting pods, and image pulls. All processes share this machine's cores with Redis and the bench.",
    "Overcommits: after the run, every node's usage hash against its capacity, and against the sum of its " +
      'reservations (one MULTI per node); ledger mismatches (shown only when not 0): reservations without a Scheduled ' +
      "pod, or Scheduled pods without one. Hits and bytes: from each placed pod's placement record (reason names the " +
      'pinned digest; bytesToFetch). "vs best (run)": against the greedy best-achievable reference of the in-process ' +
      'phase; a run cut short placed only the earlier pods of the sequence, so read it as indicative.',
  ];
  return [renderTable([header, ...rows]), '', ...notes.map((n) => `- ${n}`)].join('\n');
}

function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
