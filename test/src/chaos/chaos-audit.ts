import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { isTerminal, type PodRecord } from '@warmpod/domain';
import { bullPrefix, nodeQueueName, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { Keys, PodRepository } from '@warmpod/store';
import type { E2eCluster } from '../support';

/** What is left of the run once every pod was deleted, by kind; each must be 0. */
export interface Orphans {
  containers: number;
  mounts: number;
  netns: number;
  cgroups: number;
  queueJobs: number;
  redisKeys: number;
}

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

/** Every pod record of a tenant (the label names the submission it came from). */
export async function tenantPods(redis: Redis, prefix: string, tenant: string): Promise<PodRecord[]> {
  const ids = await redis.zrange(new Keys(prefix).tenantPods(tenant), 0, -1);
  const pods = new PodRepository(redis, prefix);
  const records = await Promise.all(ids.map((id) => pods.get(id)));
  return records.filter((p): p is PodRecord => p !== undefined);
}

/**
 * Samples every node's reservations while the faults run: reserved totals
 * above capacity, totals that disagree with the pods' reservations, or one
 * pod reserved on two nodes, each counts as an overcommit. One MULTI per
 * sample, so it sees one consistent state; a sample while Redis is down is
 * skipped.
 */
export class CapacityWatch {
  readonly violations: string[] = [];
  samples = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  start(everyMs = 250): void {
    this.timer = setInterval(() => {
      this.running ??= this.sample()
        .catch(() => undefined)
        .finally(() => (this.running = undefined));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.sample().catch(() => undefined);
  }

  async sample(): Promise<void> {
    const keys = new Keys(this.prefix);
    const nodes = (await this.redis.smembers(keys.nodes())).sort();
    const multi = this.redis.multi();
    for (const n of nodes) {
      multi.hmget(keys.node(n), 'capCpuMilli', 'capMemoryMiB', 'capGpu');
      multi.hgetall(keys.nodeUsage(n));
      multi.hgetall(keys.nodeReservations(n));
    }
    const replies = (await multi.exec()) ?? [];
    this.samples++;
    const holder = new Map<string, string>();
    nodes.forEach((n, i) => {
      const [cap, usage, reservations] = [0, 1, 2].map((k) => replies[i * 3 + k]?.[1]) as [
        Array<string | null>,
        Record<string, string>,
        Record<string, string>,
      ];
      const sum = [0, 0, 0];
      for (const [pod, entry] of Object.entries(reservations)) {
        entry.split(' ').forEach((v, k) => (sum[k]! += Number(v)));
        const other = holder.get(pod);
        if (other) this.violations.push(`${pod} reserved on ${other} and ${n}`);
        holder.set(pod, n);
      }
      const used = [usage['cpuMilli'], usage['memoryMiB'], usage['gpu']].map((v) => Number(v ?? 0));
      if (used.some((u, k) => u !== sum[k])) this.violations.push(`${n}: usage ${used.join('/')} != reservations ${sum.join('/')}`);
      if (cap[0] && used.some((u, k) => u > Number(cap[k])))
        this.violations.push(`${n}: usage ${used.join('/')} over capacity ${cap.join('/')}`);
    });
  }
}

/** Running pods' requests per node above the node's capacity (what the runtime really holds). */
export function runningOvercommits(pods: PodRecord[], capacity: Map<string, { cpu: number; memoryMiB: number }>): string[] {
  const per = new Map<string, { cpu: number; memoryMiB: number }>();
  for (const p of pods.filter((x) => x.phase === 'Running' && x.node)) {
    const u = per.get(p.node!) ?? { cpu: 0, memoryMiB: 0 };
    u.cpu += Math.round(p.spec.resources.cpu * 1000);
    u.memoryMiB += p.spec.resources.memoryMiB;
    per.set(p.node!, u);
  }
  const over: string[] = [];
  for (const [node, u] of per) {
    const cap = capacity.get(node);
    if (cap && (u.cpu > Math.round(cap.cpu * 1000) || u.memoryMiB > cap.memoryMiB))
      over.push(`${node}: running pods ask ${u.cpu}m/${u.memoryMiB}MiB`);
  }
  return over;
}

/** What the nodes, the queues and Redis still hold for this run once its pods are all ended; findings by kind. */
export async function findOrphans(
  e: E2eCluster,
  redis: Redis,
  nodeIds: string[],
  podIds: string[],
): Promise<{ counts: Orphans; details: string[] }> {
  const details: string[] = [];
  const count = (kind: string, found: string[]): number => {
    details.push(...found.map((f) => `${kind}: ${f}`));
    return found.length;
  };
  const suffixes = podIds.map((id) => id.slice(-12));
  const containers = nodeIds.flatMap((n) => {
    const out = sh('runc', ['--root', join(e.workDir, 'nodes', n, 'runc'), 'list', '--format', 'json']);
    return ((JSON.parse(out || 'null') as Array<{ id: string }> | null) ?? []).map((c) => `${n}/${c.id}`);
  });
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(e.workDir) && podIds.some((id) => l.includes(id)));
  const netns = sh('ip', ['netns', 'list'])
    .split('\n')
    .filter((l) => suffixes.some((s) => l.includes(s)));
  const cgroupPrefix = `warmpod-${e.prefix.replace(/[^A-Za-z0-9]/g, '')}-`;
  const cgroups = readdirSync('/sys/fs/cgroup/memory')
    .filter((d) => d.startsWith(cgroupPrefix))
    .flatMap((d) =>
      readdirSync(join('/sys/fs/cgroup/memory', d), { withFileTypes: true })
        .filter((x) => x.isDirectory())
        .map((x) => `${d}/${x.name}`),
    );
  const counts: Orphans = {
    containers: count('container', containers),
    mounts: count('mount', mounts),
    netns: count('netns', netns),
    cgroups: count('cgroup', cgroups),
    queueJobs: count('queue job', await queueLeftovers(redis, e.prefix, nodeIds)),
    redisKeys: count('redis', await redisLeftovers(redis, e.prefix, nodeIds)),
  };
  return { counts, details };
}

/** Jobs still in any state but completed: waiting, active, delayed, prioritized, failed. */
async function queueLeftovers(redis: Redis, prefix: string, nodeIds: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of [SCHEDULING_QUEUE, ...nodeIds.map(nodeQueueName)]) {
    const queue = new Queue(name, { connection: redis, prefix: bullPrefix(prefix), skipVersionCheck: true });
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'waiting-children');
    await queue.close();
    for (const [state, n] of Object.entries(counts)) if (n > 0) found.push(`${name} ${state} ${n}`);
  }
  return found;
}

/** Records that outlive what they describe: reservations and usage of ended pods, backlog entries, live or half-written pods, dangling idempotency keys. */
async function redisLeftovers(redis: Redis, prefix: string, nodeIds: string[]): Promise<string[]> {
  const keys = new Keys(prefix);
  const found: string[] = [];
  for (const n of nodeIds) {
    for (const pod of await redis.hkeys(keys.nodeReservations(n))) found.push(`${n} still reserves ${pod}`);
    const usage = await redis.hgetall(keys.nodeUsage(n));
    if (['cpuMilli', 'memoryMiB', 'gpu'].some((f) => Number(usage[f] ?? 0) !== 0)) found.push(`${n} usage ${JSON.stringify(usage)}`);
  }
  for (const pod of await redis.hkeys(keys.backlog())) found.push(`backlog holds ${pod}`);
  const pods = new PodRepository(redis, prefix);
  for (const tenant of ['alpha', 'beta']) {
    for (const id of await redis.zrange(keys.tenantPods(tenant), 0, -1)) {
      const pod = await pods.get(id);
      if (!pod) found.push(`${id} listed without a record`);
      else if (!isTerminal(pod.phase)) found.push(`${id} still ${pod.phase}`);
    }
    for (const idem of await scanAll(redis, keys.idempotency(tenant, '*'))) {
      const podId = (await redis.get(idem))?.split(' ')[1];
      if (!podId || !(await pods.get(podId))) found.push(`${idem} names no pod`);
    }
  }
  return found;
}

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    out.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return out;
}
