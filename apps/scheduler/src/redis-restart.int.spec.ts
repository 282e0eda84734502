import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { newId, normaliseSpec, type PodRecord } from '@warmpod/domain';
import { bullPrefix, JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger } from '@warmpod/observability';
import { connectRedis, Keys, PodRepository, type PodDefinition } from '@warmpod/store';
import { ClusterPki, RedisServer } from '@warmpod/devkit';
import { schedulerConfig } from './config';
import { SchedulerModule } from './scheduler.module';
import { SimulatedAgent } from './testing/simulated-agent';

/**
 * Issue #12, item 3: a Redis restart under load loses nothing. A Redis of the
 * test's own, with an append-only file fsynced every second and noeviction
 * (as `npm start` runs it); the real scheduler (its Nest module: registry,
 * placement view, backlog, node monitor, scheduling worker) in process; two
 * nodes consuming their real queues as agents do (pods run, then end and
 * free their reservation). Pods are admitted as the gateway admits them
 * (record, then schedule-pod job) while Redis is stopped with SIGTERM and
 * started again on the same directory and port; an admission refused during
 * the outage is retried with its idempotency key, as a client would.
 * Afterwards every admitted pod has its record and has run to Succeeded (its
 * queued jobs ran: none stuck Pending or Scheduled), no node was ever over
 * capacity, and each node's usage always matched its reservations.
 */
const PODS = 60;
const CAPACITY = { cpu: 2, memoryMiB: 4096, gpu: 0 };
const POD_CPU = 0.5;
const NODES = ['node-r1', 'node-r2'];
const prefix = `rr${process.pid}:`;
const logger = createLogger({ service: 'redis-restart-test', level: 'silent' });

let dir: string;
let server: RedisServer;
let scheduler: INestApplicationContext | undefined;
let redis: Redis;
let producer: Redis;
const agents: SimulatedAgent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wp-redis-restart-'));
  server = await RedisServer.start({ dir });
  // Test reads and the agents: commands wait out the restart, as the services' workers do.
  redis = connectRedis(server.url, 'redis-restart-test');
  redis.on('error', () => undefined);
  // Admissions: a command fails after one reconnect attempt, as on the gateway's producer connection.
  producer = connectRedis(server.url, 'redis-restart-producer', 'producer');
  producer.on('error', () => undefined);
  // The registry serves mTLS only: the scheduler's certificate from a CA of the test's own (the agents here are simulated on the store).
  const cert = await (await ClusterPki.open(join(dir, 'pki'))).issue('service:scheduler');
  const config = schedulerConfig({
    ...ClusterPki.env(cert),
    WARMPOD_REDIS_URL: server.url,
    WARMPOD_PREFIX: prefix,
    SCHEDULER_GRPC_PORT: '0',
    SCHEDULER_HTTP_PORT: '0',
    NODE_READY_WINDOW_MS: '60000',
    LOG_LEVEL: 'silent',
  });
  scheduler = await NestFactory.createApplicationContext(SchedulerModule.forConfig(config), { logger: false });
  for (const id of NODES) {
    const agent = new SimulatedAgent(id, redis, prefix, 150, logger);
    agents.push(agent);
    await agent.register(CAPACITY);
  }
});

after(async () => {
  for (const agent of agents) await agent.stop().catch(() => undefined);
  await scheduler?.close();
  producer?.disconnect();
  redis?.disconnect();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function definition(): PodDefinition {
  const digest = `sha256:${'e'.repeat(64)}`;
  return {
    id: newId('pod'),
    tenant: 'acme',
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'team/app:v1', pinned: `127.0.0.1:5000/team/app@${digest}`, digest },
    spec: normaliseSpec({ image: 'team/app:v1', resources: { cpu: POD_CPU, memoryMiB: 64, gpu: 0 } }),
  };
}

/** The gateway's two steps, retried with the same idempotency key until both are done (the job id dedupes). */
async function admit(pods: PodRepository, bus: JobBus, def: PodDefinition): Promise<number> {
  let refusals = 0;
  for (;;) {
    try {
      const outcome = await pods.create(def, { key: `k-${def.id}`, bodyHash: 'h' });
      if (outcome.kind === 'over-quota') throw new Error(`no quota was given, yet ${outcome.refusal.quota} refused the pod`);
      await bus.toScheduler({ name: 'schedule-pod', data: { podId: outcome.podId, requestId: `req-${def.id}` } });
      return refusals;
    } catch {
      refusals++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface Ledger {
  violations: string[];
  samples: number;
}

/** Reads each node's usage and reservations in one MULTI: usage within capacity and equal to its reservations' sum. */
async function audit(keys: Keys, ledger: Ledger): Promise<void> {
  for (const node of NODES) {
    const replies = await redis.multi().hgetall(keys.nodeUsage(node)).hgetall(keys.nodeReservations(node)).exec();
    const [usage, reservations] = (replies ?? []).map(([, reply]) => (reply ?? {}) as Record<string, string>);
    const used = Number(usage?.['cpuMilli'] ?? 0);
    const reserved = Object.values(reservations ?? {}).reduce((sum, r) => sum + Number(r.split(' ')[0]), 0);
    if (used > CAPACITY.cpu * 1000) ledger.violations.push(`${node} over capacity: ${used} mCPU`);
    if (used !== reserved) ledger.violations.push(`${node}: usage ${used} mCPU, reservations ${reserved} mCPU`);
  }
  ledger.samples++;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a Redis restart under load', () => {
  test('pods keep their records, queued jobs run, reservations stay consistent, no pod is stuck', async (t) => {
    const pods = new PodRepository(producer, prefix);
    const bus = new JobBus(producer, prefix);
    const keys = new Keys(prefix);
    const ledger: Ledger = { violations: [], samples: 0 };
    let auditing = true;
    const auditor = (async () => {
      while (auditing) {
        await audit(keys, ledger);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const ids: string[] = [];
    let refusals = 0;
    let restarted = false;
    const admissions = (async () => {
      for (let i = 0; i < PODS; i++) {
        const def = definition();
        refusals += await admit(pods, bus, def);
        ids.push(def.id);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // Mid-load: some pods running, some waiting for room, jobs queued; then the restart.
    await waitFor('a third of the pods admitted', async () => ids.length >= PODS / 3, 30_000);
    const pid = server.pid;
    await server.restart();
    restarted = true;
    assert.notEqual(server.pid, pid, 'another redis-server process');
    await admissions;

    const reader = new PodRepository(redis, prefix);
    let records: Array<PodRecord | undefined> = [];
    await waitFor(
      'every admitted pod Succeeded',
      async () => {
        records = await Promise.all(ids.map((id) => reader.get(id)));
        return records.every((p) => p?.phase === 'Succeeded');
      },
      // A job whose fetch reply was lost to the restart is active with no worker on it until the stalled-job check
      // takes it back (node queues: lock 15 s + check every 10 s), possibly twice on a loaded machine.
      120_000,
    ).catch((error: Error) => {
      const phases = records.map((p, i) => `${ids[i]}: ${p?.phase ?? 'no record'} ${p?.message ?? ''}`);
      throw new Error(`${error.message}\n${phases.filter((l) => !l.includes('Succeeded')).join('\n')}`);
    });
    auditing = false;
    await auditor;

    assert.ok(restarted);
    assert.equal(new Set(ids).size, PODS);
    assert.equal(records.filter((p) => p !== undefined).length, PODS, 'every admitted pod kept its record');
    assert.deepEqual(ledger.violations, [], 'no overcommit; usage always matched the reservations');
    for (const node of NODES) {
      assert.deepEqual(await redis.hgetall(keys.nodeReservations(node)), {}, `${node}: no reservation left`);
    }
    for (const agent of agents) assert.deepEqual(agent.errors, [], `${agent.nodeId}: every pod it ran ended`);
    assert.equal(
      agents.reduce((n, a) => n + a.started, 0),
      PODS,
      'each pod started exactly once',
    );
    const queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    await queue.close();
    assert.deepEqual(counts, { waiting: 0, active: 0, delayed: 0, failed: 0 }, 'no scheduling job left or failed');
    await bus.close();
    t.diagnostic(
      `${PODS} pods admitted (${refusals} admissions refused during the restart and retried), all Succeeded; ` +
        `${ledger.samples} ledger samples, ${ledger.violations.length} violations`,
    );
  });
});
