import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { INTAKE_QUEUE, runPodProgressSchema, WarmpodJobError, WarmpodQueueClient } from '@warmpod/client';
import { connectRedis, Keys } from '@warmpod/store';
import { closedPort, REDIS_URL, startGateway, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { adminClient, eventually, intakeUsers, queueAs, settle, type IntakeUsers } from '../testing/intake';
import { BODY_REJECTIONS, VALID_POD } from '../testing/pod-rejections';
import { startRegistry, type TestRegistry } from '../testing/registry';

/**
 * The queue door against real Redis ACL users and a real registry: the REST
 * door's refusals as job data, tenancy by Redis, idempotency by job id,
 * progress, cancellation and backpressure. No nodes: admitted pods stay
 * Pending, which is all admission, progress and cancellation need.
 */
const prefix = uniquePrefix('intake');
const deniedPrefix = uniquePrefix('intake-denied');
const silentPrefix = uniquePrefix('intake-silent');
const ratePrefix = uniquePrefix('intake-rate');
const door = { INTAKE_SWEEP_MS: '200', INTAKE_POLL_MS: '25' };
let dir: string;
let registry: TestRegistry;
let denier: Server;
let users: IntakeUsers;
const gateways: TestGateway[] = [];
const clients: WarmpodQueueClient[] = [];
let alpha: WarmpodQueueClient;
let beta: WarmpodQueueClient;
let traces: Traces;

const client = (c: WarmpodQueueClient) => (clients.push(c), c);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-intake-'));
  registry = await startRegistry(dir);
  await registry.push('team/app', 'v1');
  denier = createServer((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end());
  await new Promise<void>((resolve) => denier.listen(0, '127.0.0.1', resolve));
  const deniedHost = `127.0.0.1:${(denier.address() as { port: number }).port}`;
  users = await intakeUsers(prefix, ['alpha', 'beta']);
  const start = async (p: string, env: Record<string, string>) => {
    gateways.push(await startGateway({ WARMPOD_PREFIX: p, WARMPOD_DEFAULT_REGISTRY: registry.host, ...door, ...env }));
  };
  await start(prefix, { INTAKE_TENANTS: 'alpha,beta', INTAKE_REDIS_URL: users.consumerUrl, INTAKE_MAX_IN_FLIGHT: '2' });
  await start(deniedPrefix, { INTAKE_TENANTS: 'alpha', WARMPOD_DEFAULT_REGISTRY: deniedHost });
  await start(silentPrefix, { INTAKE_TENANTS: 'alpha', WARMPOD_DEFAULT_REGISTRY: `127.0.0.1:${await closedPort()}` });
  await start(ratePrefix, { INTAKE_TENANTS: 'alpha', INTAKE_RATE_MAX: '1', INTAKE_RATE_DURATION_MS: '600000' });
  alpha = client(new WarmpodQueueClient(users.producers['alpha']!));
  beta = client(new WarmpodQueueClient(users.producers['beta']!));
  traces = new Traces(prefix);
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(gateways.map((g) => g.close()));
  await users?.remove();
  await new Promise((resolve) => (denier ? denier.close(resolve) : resolve(undefined)));
  for (const p of [deniedPrefix, silentPrefix, ratePrefix]) await new Traces(p).cleanUp();
  await traces?.cleanUp();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

const NO_RETRY_UNLESS_TRANSIENT = { attempts: 3, backoff: { type: 'fixed', delay: 10 } } as const;

function errorOf(reason: string): WarmpodJobError {
  return WarmpodJobError.fromFailedReason(reason);
}

describe('the queue door refuses what the REST door refuses, at once, leaving nothing', () => {
  for (const r of BODY_REJECTIONS) {
    test(`${r.name} -> ${r.code}`, async () => {
      const producer = r.target === 'denied' ? client(adminClient(deniedPrefix, 'alpha')) : alpha;
      const watch = r.target === 'denied' ? new Traces(deniedPrefix) : traces;
      const before = await watch.snapshot();
      const job = await producer.queue.add('run-pod', r.body, NO_RETRY_UNLESS_TRANSIENT);
      const outcome = await settle(producer, job);
      assert.equal(outcome.ok, false);
      if (outcome.ok) return;
      const error = errorOf(outcome.reason);
      assert.equal(error.code, r.code, outcome.reason);
      if (r.path)
        assert.ok(
          error.details.some((d) => d.path === r.path),
          `details name ${r.path}: ${outcome.reason}`,
        );
      if (r.message) assert.match(outcome.reason, r.message);
      assert.equal(outcome.attemptsMade, 1, 'a refusal is not retried');
      assert.deepEqual(await watch.snapshot(), before, 'no pod keys and no scheduling jobs were added');
      if (watch !== traces) await watch.redis.quit().then(() => watch.scheduling.close());
    });
  }

  const optionCases = [
    { name: 'a waitFor that is not allowed', data: { ...VALID_POD, waitFor: 'Succeeded' }, path: 'waitFor' },
    { name: 'a timeout of 0', data: { ...VALID_POD, timeoutSeconds: 0 }, path: 'timeoutSeconds' },
  ];
  for (const c of optionCases) {
    test(`${c.name} -> invalid_request`, async () => {
      const before = await traces.snapshot();
      const outcome = await settle(alpha, await alpha.queue.add('run-pod', c.data, NO_RETRY_UNLESS_TRANSIENT));
      assert.ok(!outcome.ok);
      assert.equal(errorOf(outcome.reason).code, 'invalid_request');
      assert.ok(
        errorOf(outcome.reason).details.some((d) => d.path === c.path),
        outcome.reason,
      );
      assert.equal(outcome.attemptsMade, 1);
      assert.deepEqual(await traces.snapshot(), before);
    });
  }

  test('a job on the intake queue of a tenant that does not exist -> unknown_tenant', async () => {
    const ghost = client(adminClient(prefix, 'ghost'));
    const before = await traces.snapshot();
    const outcome = await settle(ghost, await ghost.queue.add('run-pod', VALID_POD, NO_RETRY_UNLESS_TRANSIENT));
    assert.ok(!outcome.ok);
    assert.equal(errorOf(outcome.reason).code, 'unknown_tenant');
    assert.match(outcome.reason, /ghost/);
    assert.equal(outcome.attemptsMade, 1);
    assert.deepEqual(await traces.snapshot(), before);
  });

  test('a registry that does not answer is retried with backoff, then fails; nothing is stored', async () => {
    const producer = client(adminClient(silentPrefix, 'alpha'));
    const watch = new Traces(silentPrefix);
    const before = await watch.snapshot();
    const outcome = await settle(
      producer,
      await producer.queue.add('run-pod', VALID_POD, { attempts: 2, backoff: { type: 'fixed', delay: 50 } }),
    );
    assert.ok(!outcome.ok);
    assert.equal(errorOf(outcome.reason).code, 'registry_unavailable');
    assert.equal(outcome.attemptsMade, 2, 'an outage is retried');
    assert.deepEqual(await watch.snapshot(), before);
    await watch.scheduling.close();
    await watch.redis.quit();
  });
});

describe('tenancy is enforced by Redis ACL users', () => {
  test("a tenant's producer cannot add to, read or clean another tenant's queue, nor touch warmpod's keys", async () => {
    const betaJob = await beta.queue.add('run-pod', VALID_POD, { delay: 3_600_000, jobId: 'beta-private' });
    const alphaUrl = users.producers['alpha']!.url;
    const intoBeta = queueAs(alphaUrl, users.producers['beta']!.queuePrefix);
    const betaControl = queueAs(alphaUrl, users.producers['beta']!.queuePrefix, 'control');
    const raw = connectRedis(alphaUrl, 'acl-probe', 'producer');
    const keys = new Keys(prefix);
    try {
      await assert.rejects(intoBeta.add('run-pod', VALID_POD), /NOPERM/, 'add to beta');
      await assert.rejects(betaControl.add('cancel', { jobId: 'beta-private' }), /NOPERM/, "cancel beta's job");
      await assert.rejects(intoBeta.getJob(String(betaJob.id)), /NOPERM/, "read beta's job");
      await assert.rejects(intoBeta.getJobs(['delayed']), /NOPERM/, "list beta's jobs");
      await assert.rejects(intoBeta.clean(0, 100, 'delayed'), /NOPERM/, "clean beta's queue");
      await assert.rejects(intoBeta.remove('beta-private'), /NOPERM/, "remove beta's job");
      await assert.rejects(raw.get(keys.podSpec('pod-00000000000000000000')), /NOPERM/, 'read a pod record');
      await assert.rejects(raw.set(`${prefix}x`, '1'), /NOPERM/, 'write a warmpod key');
      await assert.rejects(raw.call('XADD', `${prefix}scheduling:events`, '*', 'a', 'b'), /NOPERM/, 'write an internal queue');
      await assert.rejects(raw.scan('0'), /NOPERM/, 'list key names');
      await assert.rejects(raw.keys('*'), /NOPERM/, 'KEYS');
      await assert.rejects(raw.publish(keys.poolsChanged(), 'x'), /NOPERM/, 'publish on a warmpod channel');
      await assert.rejects(raw.call('FLUSHALL'), /NOPERM/, 'FLUSHALL');
      assert.equal((await beta.queue.getJob('beta-private'))?.id, 'beta-private', "beta's job is still there");
    } finally {
      await Promise.all([intoBeta.close(), betaControl.close()]);
      raw.disconnect();
      await betaJob.remove();
    }
  });

  test("a job whose parent fields name another tenant's job is refused, and that parent is not touched", async () => {
    const betaParentKey = `${new Keys(prefix).tenantQueuesPrefix('beta')}:reports:1`;
    const admin = connectRedis(REDIS_URL, 'acl-probe', 'producer');
    await admin.hset(betaParentKey, 'name', 'report');
    const raw = connectRedis(users.producers['alpha']!.url, 'acl-probe', 'producer');
    try {
      const job = await alpha.queue.add('run-pod', VALID_POD, { delay: 3_600_000, jobId: 'sneaky-1' });
      // The producer may write its own job's hash: it points the job at beta's parent, then lets it run.
      await raw.hset(
        alpha.queue.toKey('sneaky-1'),
        'parentKey',
        betaParentKey,
        'parent',
        JSON.stringify({ id: '1', queueKey: betaParentKey.slice(0, -2) }),
      );
      await job.promote();
      const outcome = await settle(alpha, job);
      assert.ok(!outcome.ok);
      assert.equal(errorOf(outcome.reason).code, 'forbidden_parent');
      assert.deepEqual(await admin.hgetall(betaParentKey), { name: 'report' });
    } finally {
      raw.disconnect();
      await admin.del(betaParentKey);
      admin.disconnect();
    }
  });

  test("the door's consumer user reaches the intake queues only, not warmpod's records", async () => {
    const consumer = connectRedis(users.consumerUrl, 'acl-probe', 'producer');
    try {
      await assert.rejects(consumer.get(new Keys(prefix).podSpec('pod-00000000000000000000')), /NOPERM/);
      await assert.rejects(consumer.zcard(new Keys(prefix).tenantPods('alpha')), /NOPERM/);
    } finally {
      consumer.disconnect();
    }
  });
});

describe('run-pod: progress, idempotency by job id, cancellation, backpressure', () => {
  const podsOf = (tenant: string) => traces.redis.zcard(new Keys(prefix).tenantPods(tenant));
  const progressOf = async (jobId: string) => {
    const job = await alpha.queue.getJob(jobId);
    const p = runPodProgressSchema.safeParse(job?.progress);
    return p.success ? p.data : undefined;
  };

  test('the same job id twice is one pod; progress names it with its phase; a cancel stops it and fails the job', async () => {
    const before = await podsOf('alpha');
    const first = await alpha.addRunPod(VALID_POD, { jobId: 'same-1' });
    const second = await alpha.addRunPod(VALID_POD, { jobId: 'same-1' });
    assert.equal(second.id, first.id);
    const progress = await eventually('progress with the pod', () => progressOf('same-1'));
    assert.equal(progress.phase, 'Pending');
    assert.ok(!Number.isNaN(Date.parse(progress.at)) && progress.timeline['Pending'] === progress.at);
    assert.equal(await podsOf('alpha'), before + 1);

    const finished = settle(alpha, first);
    assert.deepEqual(await alpha.cancel('same-1'), { removed: false, stopped: progress.podId });
    const outcome = await finished;
    assert.ok(!outcome.ok);
    assert.equal(errorOf(outcome.reason).code, 'pod_stopped');
    assert.equal(outcome.attemptsMade, 1);

    // The job gone, its id still names the pod (the idempotency key): no second pod.
    await (await alpha.queue.getJob('same-1'))!.remove();
    const again = await settle(alpha, await alpha.addRunPod(VALID_POD, { jobId: 'same-1' }));
    assert.ok(!again.ok);
    assert.equal(errorOf(again.reason).code, 'pod_stopped');
    assert.equal((await progressOf('same-1'))?.podId, progress.podId);
    assert.equal(await podsOf('alpha'), before + 1);
  });

  test('a job that times out stops its pod and fails with timeout', async () => {
    await assert.rejects(alpha.runPod(VALID_POD, { jobId: 'slow-1', timeoutSeconds: 1 }), (e: unknown) => {
      assert.ok(e instanceof WarmpodJobError);
      assert.equal(e.code, 'timeout');
      assert.match(e.message, /Pending/);
      return true;
    });
  });

  test('pods in flight per tenant are capped: further jobs wait, and start as others finish', async () => {
    const jobs = ['bp-1', 'bp-2', 'bp-3'];
    for (const jobId of jobs) await alpha.addRunPod(VALID_POD, { jobId });
    await eventually('two jobs in flight', async () => ((await progressOf('bp-1')) && (await progressOf('bp-2')) ? true : undefined));
    assert.equal(await (await alpha.queue.getJob('bp-3'))!.getState(), 'waiting');
    assert.equal(await progressOf('bp-3'), undefined, 'the third job has no pod yet');
    await alpha.cancel('bp-1');
    const third = await eventually('the third job admitted', () => progressOf('bp-3'));
    assert.equal(third.phase, 'Pending');
    for (const jobId of ['bp-2', 'bp-3']) await alpha.cancel(jobId);
    const meta = await traces.redis.hmget(
      `${users.producers['alpha']!.queuePrefix}:${INTAKE_QUEUE}:meta`,
      'concurrency',
      'max',
      'duration',
    );
    assert.deepEqual(meta, ['2', '50', '1000'], "the door's limits are on the tenant's queue");
  });

  test("BullMQ's rate limiter holds a tenant's jobs past its rate", async () => {
    const producer = client(adminClient(ratePrefix, 'alpha'));
    const first = await producer.addRunPod(VALID_POD, { jobId: 'rate-1' });
    const second = await producer.addRunPod(VALID_POD, { jobId: 'rate-2' });
    await eventually('the first job admitted', async () => ((await producer.queue.getJob('rate-1'))?.progress ? true : undefined));
    assert.ok((await producer.queue.getRateLimitTtl()) > 0, 'the limiter is engaged');
    assert.equal(await second.getState(), 'waiting');
    await producer.cancel(String(first.id));
    await producer.cancel(String(second.id));
  });
});
