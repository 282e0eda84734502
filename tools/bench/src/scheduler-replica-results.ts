import type { Redis } from 'ioredis';
import type { Placement } from '@warmpod/domain';
import { Keys } from '@warmpod/store';
import { BACKGROUND_RESERVATION } from './scheduler-replica-nodes';

const READ_BATCH = 2_000;

export interface PlacementTally {
  /** Pods that reached Scheduled (also those ended since). */
  placed: number;
  /** Still Pending at the end: tried and waiting for room, or never reached (the run was cut short). */
  waiting: number;
  notReached: number;
  failed: number;
  /** First and last `t:Scheduled`, ms since the epoch. */
  firstScheduledMs: number;
  lastScheduledMs: number;
  /** Placed on a node that held the pinned digest (the placement's reason says so). */
  digestHits: number;
  bytesFetched: number;
  /** Placements whose recorded reason and bytes to fetch disagree (a hit with bytes, or bytes missing). */
  inconsistentRecords: number;
  /** Pods that should hold a reservation (Scheduled, not ended), by node. */
  holding: Map<string, Set<string>>;
}

/** Reads every pod's status back: placements, reasons, bytes to fetch. */
export async function tallyPlacements(redis: Redis, prefix: string, podIds: string[]): Promise<PlacementTally> {
  const keys = new Keys(prefix);
  const t: PlacementTally = {
    placed: 0,
    waiting: 0,
    notReached: 0,
    failed: 0,
    firstScheduledMs: Infinity,
    lastScheduledMs: -Infinity,
    digestHits: 0,
    bytesFetched: 0,
    inconsistentRecords: 0,
    holding: new Map(),
  };
  for (let from = 0; from < podIds.length; from += READ_BATCH) {
    const batch = podIds.slice(from, from + READ_BATCH);
    const pipeline = redis.pipeline();
    for (const id of batch) pipeline.hmget(keys.podStatus(id), 'phase', 't:Scheduled', 'node', 'placement', 'message');
    const replies = (await pipeline.exec()) ?? [];
    batch.forEach((id, k) => {
      const [phase, scheduledAt, node, placementJson, message] = (replies[k]?.[1] ?? []) as Array<string | null>;
      if (phase === 'Pending' && message) t.waiting++;
      if (phase === 'Pending' && !message) t.notReached++;
      if (phase === 'Failed') t.failed++;
      if (!scheduledAt || !node || !placementJson) return;
      t.placed++;
      const at = Date.parse(scheduledAt);
      t.firstScheduledMs = Math.min(t.firstScheduledMs, at);
      t.lastScheduledMs = Math.max(t.lastScheduledMs, at);
      const placement = JSON.parse(placementJson) as Placement;
      const hit = /pinned digest/.test(placement.why);
      if (hit) t.digestHits++;
      if (placement.bytesToFetch === undefined || (hit && placement.bytesToFetch !== 0)) t.inconsistentRecords++;
      t.bytesFetched += placement.bytesToFetch ?? 0;
      if (phase === 'Scheduled') {
        const set = t.holding.get(node) ?? new Set<string>();
        set.add(id);
        t.holding.set(node, set);
      }
    });
  }
  return t;
}

export interface CapacityAudit {
  /** Nodes whose reserved usage exceeds their capacity in some resource. */
  overCapacity: number;
  /** Nodes whose usage is not the sum of their reservations. */
  usageNotSum: number;
  /** Reservations without a placed, running pod, plus placed pods without a reservation. */
  ledgerMismatches: number;
}

/** Reads every node's capacity, usage and reservations (one MULTI per node) and checks them against each other and the pods. */
export async function auditCapacity(
  redis: Redis,
  prefix: string,
  nodeIds: string[],
  holding: Map<string, Set<string>>,
): Promise<CapacityAudit> {
  const keys = new Keys(prefix);
  const audit: CapacityAudit = { overCapacity: 0, usageNotSum: 0, ledgerMismatches: 0 };
  for (let from = 0; from < nodeIds.length; from += READ_BATCH) {
    const batch = nodeIds.slice(from, from + READ_BATCH);
    const snapshots = await Promise.all(
      batch.map((id) =>
        redis
          .multi()
          .hmget(keys.node(id), 'capCpuMilli', 'capMemoryMiB', 'capGpu')
          .hgetall(keys.nodeUsage(id))
          .hgetall(keys.nodeReservations(id))
          .exec(),
      ),
    );
    batch.forEach((id, k) => {
      const r = snapshots[k] ?? [];
      const cap = ((r[0]?.[1] ?? []) as Array<string | null>).map(Number);
      const usage = (r[1]?.[1] ?? {}) as Record<string, string>;
      const reservations = (r[2]?.[1] ?? {}) as Record<string, string>;
      const used = [Number(usage['cpuMilli'] ?? 0), Number(usage['memoryMiB'] ?? 0), Number(usage['gpu'] ?? 0)];
      if (used.some((u, d) => u > cap[d]!)) audit.overCapacity++;
      const sum = [0, 0, 0];
      for (const value of Object.values(reservations)) value.split(' ').forEach((v, d) => (sum[d]! += Number(v)));
      if (sum.some((s, d) => s !== used[d])) audit.usageNotSum++;
      const expected = holding.get(id) ?? new Set<string>();
      const held = Object.keys(reservations).filter((podId) => podId !== BACKGROUND_RESERVATION);
      audit.ledgerMismatches += held.filter((podId) => !expected.has(podId)).length;
      audit.ledgerMismatches += [...expected].filter((podId) => !(podId in reservations)).length;
    });
  }
  return audit;
}

/** Deletes every key under the prefix (records, queues, jobs). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5_000);
    cursor = next;
    if (found.length > 0) deleted += await redis.unlink(...found);
  } while (cursor !== '0');
  return deleted;
}
