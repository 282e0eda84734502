import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from '@warmpod/devkit';
import { defaultNodes } from '@warmpod/local-cluster';
import { startCluster, type E2eCluster } from '../support';
import { CapacityWatch, findOrphans, runningOvercommits, tenantPods, type Orphans } from './chaos-audit';
import { PodLoad } from './pod-load';

export type FaultKind = 'scheduler-kill' | 'gateway-kill' | 'agent-kill' | 'redis-restart';

export interface ChaosOptions {
  /** Each round injects every fault once, each under its own burst of submissions. */
  rounds: number;
  podsPerFault: number;
  /** Two faults at once under each burst (scheduler and agent, then gateway and Redis): the lean run's shape, half the bursts. */
  paired?: boolean;
  log?: (line: string) => void;
}

export interface ChaosReport {
  faults: Record<FaultKind, number>;
  submitted: number;
  /** Accepted pods not Running when the run settled, plus submissions never answered. */
  lost: number;
  /** Pods beyond one per Idempotency-Key, and replays that named another pod. */
  duplicates: number;
  overcommits: number;
  orphans: Orphans;
  /** What the cluster's own stop still found on its nodes. */
  leftAfterStop: number;
  samples: number;
  durationMs: number;
  details: string[];
}

const TENANT = 'alpha';
const SETTLE_MS = 90_000;

/**
 * The chaos run: a local cluster of two nodes and two scheduler replicas on a
 * Redis of its own (AOF, noeviction); bursts of pod submissions through the
 * gateway, each with a fault injected mid-burst; after each, every accepted
 * pod must be Running. At the end every pod is deleted and the nodes, queues
 * and Redis are searched for anything left.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const redis = await RedisServer.start();
  const nodes = defaultNodes;
  let e: E2eCluster | undefined;
  const report: ChaosReport = {
    faults: { 'scheduler-kill': 0, 'gateway-kill': 0, 'agent-kill': 0, 'redis-restart': 0 },
    submitted: 0,
    lost: 0,
    duplicates: 0,
    overcommits: 0,
    orphans: { containers: 0, mounts: 0, netns: 0, cgroups: 0, queueJobs: 0, redisKeys: 0 },
    leftAfterStop: 0,
    samples: 0,
    durationMs: 0,
    details: [],
  };
  const reader = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  reader.on('error', () => undefined);
  // Stopped in `finally` too: a sampler left running keeps a failed run's process alive for ever.
  let watch: CapacityWatch | undefined;
  try {
    // The default ready window (the e2e clusters shorten it to see losses quickly): an agent restart is not a node loss.
    e = await startCluster({ redisUrl: redis.url, schedulerReplicas: 2, nodes, env: { NODE_READY_WINDOW_MS: '40000' } });
    log(`cluster up in ${Math.round((Date.now() - started) / 1000)} s`);
    const cluster = e;
    const nodeIds = nodes('x', 0).map((n) => n.id);
    const load = new PodLoad(cluster, `c${Date.now().toString(36)}`);
    const sampler = new CapacityWatch(reader, cluster.prefix);
    watch = sampler;
    sampler.start();

    const lost: string[] = [];
    /** Every pod of the round must be Running; then they are deleted, so the next round has the nodes' room again. */
    const retire = async (): Promise<void> => {
      const ids = load.acceptedIds();
      const byId = new Map((await tenantPods(reader, cluster.prefix, TENANT)).map((p) => [p.id, p]));
      for (const id of ids.filter((x) => byId.get(x)?.phase !== 'Running')) {
        lost.push(`lost: ${id} ${byId.get(id)?.phase ?? 'no record'} ${byId.get(id)?.error ?? ''}`);
      }
      await deleteAll(cluster, ids);
      for (const id of ids) load.retired.add(id);
    };

    type Fault = [FaultKind, () => Promise<void>];
    /** A burst of submissions with its faults injected once the first pod of it is accepted, then every pod Running. */
    const burst = async (...faults: Fault[]): Promise<void> => {
      let fired: Promise<unknown> | undefined;
      const inject = () => Promise.all(faults.map(([, run]) => run()));
      await load.submit(opts.podsPerFault, { onAccepted: (n) => void (n === 1 && (fired ??= inject())) });
      await (fired ?? inject());
      for (const [kind] of faults) report.faults[kind]++;
      await settle(cluster, reader, load, log, faults.map(([kind]) => kind).join(' + '));
    };
    for (let round = 1; round <= opts.rounds; round++) {
      // Agents register with the first replica: killing it also breaks every node's registry stream.
      const replica = round % 2 === 1 ? 'scheduler-2' : 'scheduler';
      const node = nodeIds[(round - 1) % nodeIds.length]!;
      const scheduler: Fault = ['scheduler-kill', () => cluster.cluster.crashService(replica)];
      const gateway: Fault = ['gateway-kill', () => cluster.cluster.crashService('gateway')];
      const agent: Fault = ['agent-kill', () => cluster.cluster.crashService(node)];
      const store: Fault = ['redis-restart', () => redis.restart()];
      if (opts.paired) {
        await burst(scheduler, agent);
        await burst(gateway, store);
      } else {
        for (const fault of [scheduler, gateway, agent, store]) await burst(fault);
      }
      await retire();
    }
    const faultsDone = Date.now();
    watch = undefined;
    await sampler.stop();
    report.samples = sampler.samples;

    const pods = await tenantPods(reader, cluster.prefix, TENANT);
    const capacity = new Map(nodes('x', 0).map((n) => [n.id, { cpu: n.cpu, memoryMiB: n.memoryMiB }]));
    const overcommits = [...sampler.violations, ...runningOvercommits(pods, capacity)];
    report.overcommits = overcommits.length;
    report.details.push(...overcommits.map((o) => `overcommit: ${o}`));

    const subs = load.submissions;
    report.submitted = subs.filter((s) => s.ids.size > 0).length;
    const unanswered = subs.filter((s) => s.unanswered).map((s) => s.key);
    report.lost = lost.length + unanswered.length;
    report.details.push(...lost, ...unanswered.map((k) => `lost: ${k} never answered`));
    report.details.push(...subs.filter((s) => s.refused).map((s) => `refused (clean 4xx): ${s.key} ${s.refused}`));

    const perKey = new Map<string, number>();
    for (const p of pods) perKey.set(p.labels['chaos-key'] ?? '', (perKey.get(p.labels['chaos-key'] ?? '') ?? 0) + 1);
    const doubled = [...perKey].filter(([, n]) => n > 1).map(([k, n]) => `duplicate: ${k} has ${n} pods`);
    const wrongReplays = (await load.replayAll()).map((w) => `duplicate: replay of ${w}`);
    report.duplicates = doubled.length + wrongReplays.length;
    report.details.push(...doubled, ...wrongReplays);

    log(`audited in ${((Date.now() - faultsDone) / 1000).toFixed(1)} s`);
    await deleteAll(
      cluster,
      pods.map((p) => p.id),
    );
    log(`every pod deleted and ended in ${((Date.now() - faultsDone) / 1000).toFixed(1)} s`);
    const orphans = await eventuallyClean(() =>
      findOrphans(
        cluster,
        reader,
        nodeIds,
        pods.map((p) => p.id),
      ),
    );
    report.orphans = orphans.counts;
    report.details.push(...orphans.details);
  } finally {
    await watch?.stop();
    if (e && (losses(report) > 0 || report.details.length > 0)) {
      // The services' logs go with the cluster's work dir: a failed run keeps a copy to read.
      const kept = join(tmpdir(), `warmpod-chaos-logs-${Date.now()}`);
      await cp(join(e.workDir, 'logs'), kept, { recursive: true }).then(
        () => report.details.push(`logs kept in ${kept}`),
        () => undefined,
      );
    }
    if (e) {
      const stopping = Date.now();
      const left = await e.cleanup().catch((error: unknown) => [`cleanup failed: ${String(error)}`]);
      report.leftAfterStop = left.length;
      report.details.push(...left.map((l) => `left after stop: ${l}`));
      log(`cluster stopped and swept in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
    }
    reader.disconnect();
    await redis.close();
    report.durationMs = Date.now() - started;
  }
  return report;
}

/** Waits until every accepted pod is Running (or the deadline): what a fault may delay but not prevent. */
async function settle(e: E2eCluster, redis: Redis, load: PodLoad, log: (line: string) => void, after: string): Promise<void> {
  const t0 = Date.now();
  const deadline = t0 + SETTLE_MS;
  for (;;) {
    const pods = await tenantPods(redis, e.prefix, TENANT).catch(() => []);
    const running = new Set(pods.filter((p) => p.phase === 'Running').map((p) => p.id));
    const waiting = load.acceptedIds().filter((id) => !running.has(id));
    if (waiting.length === 0 || Date.now() > deadline) {
      log(`${after}: ${running.size} running, ${waiting.length} not, settled in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function deleteAll(e: E2eCluster, ids: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const id of ids) await untilAnswered(() => e.api(`/v1/pods/${id}`, { method: 'DELETE' }), deadline);
  while (Date.now() < deadline) {
    const phases = await Promise.all(
      ids.map(async (id) => ((await (await untilAnswered(() => e.api(`/v1/pods/${id}`), deadline)).json()) as { phase: string }).phase),
    );
    if (phases.every((p) => ['Stopped', 'Succeeded', 'Failed', 'Lost'].includes(p))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A killed gateway may still be coming back when a round ends (the load can
 * finish before the kill lands): a refused connection is tried again until
 * `deadline`, as a client would.
 */
async function untilAnswered(call: () => Promise<Response>, deadline: number): Promise<Response> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Teardown of the last pods runs in the background for a moment (exit watches, queue bookkeeping): look again before counting. */
async function eventuallyClean<T extends { details: string[] }>(find: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found.details.length === 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The closing table and the machine-readable lines. */
export function formatReport(r: ChaosReport): string {
  const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
  const rows: Array<[string, string | number]> = [
    [
      'faults injected',
      `${faults} (${Object.entries(r.faults)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
    ],
    ['pods submitted', r.submitted],
    ['pods lost', r.lost],
    ['duplicate pods', r.duplicates],
    ['overcommits', `${r.overcommits} (in ${r.samples} samples)`],
    ['orphan containers', r.orphans.containers],
    ['orphan mounts', r.orphans.mounts],
    ['orphan netns', r.orphans.netns],
    ['orphan cgroups', r.orphans.cgroups],
    ['orphan queue jobs', r.orphans.queueJobs],
    ['orphan Redis keys', r.orphans.redisKeys],
    ['left after cluster stop', r.leftAfterStop],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = ['chaos run', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), `  (${(r.durationMs / 1000).toFixed(0)} s)`];
  const results: Array<[string, number]> = [
    ['chaos_faults_injected', faults],
    ['chaos_pods_submitted', r.submitted],
    ['chaos_pods_lost', r.lost],
    ['chaos_duplicate_pods', r.duplicates],
    ['chaos_overcommits', r.overcommits],
    ['chaos_orphan_containers', r.orphans.containers],
    ['chaos_orphan_mounts', r.orphans.mounts],
    ['chaos_orphan_netns', r.orphans.netns],
    ['chaos_orphan_cgroups', r.orphans.cgroups],
    ['chaos_orphan_queue_jobs', r.orphans.queueJobs],
    ['chaos_orphan_redis_keys', r.orphans.redisKeys],
    ['chaos_left_after_stop', r.leftAfterStop],
  ];
  return [...lines, ...results.map(([k, v]) => `result: ${k} = ${v}`)].join('\n');
}

/** Every loss figure: all must be 0. */
export function losses(r: ChaosReport): number {
  return r.lost + r.duplicates + r.overcommits + Object.values(r.orphans).reduce((a, b) => a + b, 0) + r.leftAfterStop;
}
