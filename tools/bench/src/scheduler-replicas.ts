import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ClusterPki } from '@warmpod/devkit';
import { connectRedis, waitForRedis } from '@warmpod/store';
import type { SyntheticCluster } from './scheduler-cluster';
import { PodDriver } from './scheduler-replica-driver';
import { SimulatedNodes } from './scheduler-replica-nodes';
import { SchedulerReplicas, sleep } from './scheduler-replica-processes';
import { auditCapacity, deletePrefix, tallyPlacements } from './scheduler-replica-results';

/** How the replicas run: long ready window and heartbeat so 5,000 simulated nodes need not heartbeat during a run. */
export const REPLICA_SETTINGS = {
  concurrency: 64,
  readyWindowMs: 10 * 60_000,
  heartbeatMs: 60_000,
  logLevel: 'warn',
};
/**
 * Time for one replica count, so the whole `npm run bench:scheduler` stays
 * within about six minutes: what registration leaves of it (minus time to
 * stop and read back) is how long pods may be placed; a run cut short says so.
 */
const PHASE_BUDGET_MS = 140_000;
const REGISTRATION_TIMEOUT_MS = 110_000;
const TEARDOWN_ALLOWANCE_MS = 25_000;
const RUN_MS = { min: 20_000, max: 120_000 };
const VIEW_SETTLE_MS = 5_000;

export interface ReplicaPhaseInput {
  cluster: SyntheticCluster;
  replicas: 1 | 2;
  podCount: number;
  redisUrl: string;
}

export interface ReplicaPhaseResult {
  replicas: number;
  placed: number;
  /** When the run ended: Pending after a try (waiting for room), Pending never tried (run cut short), Failed (given up). */
  waiting: number;
  notReached: number;
  failed: number;
  placementsPerSecond: number;
  /** Nodes over capacity or whose usage is not the sum of their reservations. */
  overcommits: number;
  /** Reservations without a running placed pod, or placed pods without one. */
  ledgerMismatches: number;
  digestHitShare: number;
  meanBytesFetched: number;
  inconsistentRecords: number;
  nodesRegistered: number;
  registrationSeconds: number;
  /** First to last Scheduled timestamp. */
  placingSeconds: number;
  /** Queue resumed to the run's end (includes the quiet tail), and the cap it had. */
  runSeconds: number;
  runCapSeconds: number;
  /** The cap ended the run before every pod was dealt with. */
  timedOut: boolean;
  phaseSeconds: number;
  podsEnded: number;
  /** CPU seconds over the run: each replica, Redis (whole server), this process (simulated nodes and driver). */
  cpu: { replicas: number[]; redis: number; bench: number };
}

export type ReplicaPhaseOutcome = { ran: true; result: ReplicaPhaseResult } | { ran: false; replicas: number; reason: string };

/**
 * Phase 2 of `npm run bench:scheduler`: the same cluster and pod sequence
 * placed by real scheduler processes (1 or 2 replicas on one Redis prefix).
 * 1. Start the replicas (apps/scheduler/dist/main.js), each with its node
 *    registry on its own loopback gRPC port.
 * 2. Register the nodes through that gRPC path, simulated in this process
 *    (see SimulatedNodes: one NodeRegistryClient per node, no agents, no
 *    runc); check in Redis that every node, its inventory and background
 *    reservation are there, then give the replicas' views a few seconds to
 *    take in the last change messages (no replica says when its view is
 *    complete).
 * 3. Store image layers, Pending pods and their schedule-pod jobs (paused
 *    queue), resume, and end pods after their lifetime (PodDriver).
 * 4. Read back every pod's placement and every node's capacity ledger.
 * The prefix is fresh per run and deleted afterwards; processes and streams
 * are stopped also on failure.
 */
export async function runReplicaPhase(input: ReplicaPhaseInput): Promise<ReplicaPhaseOutcome> {
  const prefix = `wpbench${randomBytes(4).toString('hex')}:`;
  const logDir = mkdtempSync(join(tmpdir(), 'warmpod-bench-scheduler-'));
  const redis = connectRedis(input.redisUrl, 'warmpod-bench');
  let replicas: SchedulerReplicas | undefined;
  let nodes: SimulatedNodes | undefined;
  let succeeded = false;
  try {
    const phaseStarted = Date.now();
    await waitForRedis(redis, 10_000);
    // The replicas' node registries require mutual TLS, as in a cluster: one CA for them and the simulated nodes.
    const pki = await ClusterPki.open(join(logDir, 'pki'));
    const env = ClusterPki.env(await pki.issue('service:scheduler'));
    replicas = await SchedulerReplicas.start(input.replicas, { redisUrl: input.redisUrl, prefix, logDir, env, ...REPLICA_SETTINGS });
    const registering = Date.now();
    nodes = new SimulatedNodes(input.cluster, redis, prefix, replicas.grpcPorts, pki);
    await nodes.registerAll(REGISTRATION_TIMEOUT_MS);
    const missing = await nodes.missingInRedis();
    if (missing.length > 0)
      throw new Error(`${missing.length} nodes missing in Redis after registration (e.g. ${missing.slice(0, 3).join(', ')})`);
    const registrationSeconds = (Date.now() - registering) / 1000;
    // Every registration, inventory and cordon was announced on nodes:changed and each replica's view
    // refreshes those nodes as the messages come (and reloads all of them every 10 s). No replica says
    // when its view is complete, so give the last messages a fixed time to land.
    await sleep(VIEW_SETTLE_MS);

    const driver = new PodDriver(input.cluster, input.podCount, redis, prefix, nodes);
    await driver.admit();
    const cpuBefore = { replicas: replicas.cpuSeconds(), redis: await redisCpuSeconds(redis), bench: process.cpuUsage() };
    const run = replicas;
    const runCapMs = Math.min(RUN_MS.max, Math.max(RUN_MS.min, PHASE_BUDGET_MS - (Date.now() - phaseStarted) - TEARDOWN_ALLOWANCE_MS));
    const drive = await driver.run(runCapMs, () => run.assertRunning());
    const benchCpu = process.cpuUsage(cpuBefore.bench);
    const cpu = {
      replicas: replicas.cpuSeconds().map((s, i) => s - cpuBefore.replicas[i]!),
      redis: (await redisCpuSeconds(redis)) - cpuBefore.redis,
      bench: (benchCpu.user + benchCpu.system) / 1e6,
    };
    await nodes.stop();
    nodes = undefined;
    await replicas.stop();
    replicas = undefined;

    const tally = await tallyPlacements(redis, prefix, drive.podIds);
    const audit = await auditCapacity(
      redis,
      prefix,
      input.cluster.nodes.filter((n) => n.ready).map((n) => n.id),
      tally.holding,
    );
    const placingSeconds = tally.placed > 1 ? (tally.lastScheduledMs - tally.firstScheduledMs) / 1000 : 0;
    succeeded = true;
    return {
      ran: true,
      result: {
        replicas: input.replicas,
        placed: tally.placed,
        waiting: tally.waiting,
        notReached: tally.notReached,
        failed: tally.failed,
        placementsPerSecond: tally.placed > 1 ? tally.placed / Math.max(placingSeconds, 0.001) : 0,
        overcommits: audit.overCapacity + audit.usageNotSum,
        ledgerMismatches: audit.ledgerMismatches,
        digestHitShare: tally.digestHits / Math.max(1, tally.placed),
        meanBytesFetched: tally.bytesFetched / Math.max(1, tally.placed),
        inconsistentRecords: tally.inconsistentRecords,
        nodesRegistered: input.cluster.nodes.filter((n) => n.ready).length,
        registrationSeconds,
        placingSeconds,
        runSeconds: (drive.endedAt - drive.resumedAt) / 1000,
        runCapSeconds: runCapMs / 1000,
        timedOut: drive.timedOut,
        phaseSeconds: (Date.now() - phaseStarted) / 1000,
        podsEnded: drive.ended,
        cpu,
      },
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ran: false, replicas: input.replicas, reason: `failed: ${message} (scheduler logs kept in ${logDir})` };
  } finally {
    await nodes?.stop().catch(() => undefined);
    await replicas?.stop().catch(() => undefined);
    await deletePrefix(redis, prefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    if (succeeded) rmSync(logDir, { recursive: true, force: true });
  }
}

/** The Redis server's CPU time (user + system, main thread and children). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}
