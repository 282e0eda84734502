import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FlowProducer, Queue, QueueEvents, UnrecoverableError, Worker, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { INTAKE_QUEUE, INTAKE_QUEUES } from '@warmpod/client';
import { applyAclUsers, connectRedis, globLiteral, intakeProducerUser, Keys, redisUrlAs, removeAclUsers } from '@warmpod/store';
import { REDIS_URL, Traces, uniquePrefix } from '../testing/harness';
import { intakeUsers, queueAs, type IntakeUsers } from '../testing/intake';

/**
 * The door checks a job's parent fields when the job starts, but the
 * producer can rewrite its own job's hash after that check. These tests
 * rewrite them while the job runs under the door's consumer user (which
 * reaches every tenant's queues) and show that finishing the job still
 * leaves another tenant's parent untouched: BullMQ writes a parent through a
 * child only after removing the child's key from that parent's own sets,
 * and only an add under the parent's tenant's user can put it there.
 */
const prefix = uniquePrefix('intake-parent');
const keys = new Keys(prefix);
let users: IntakeUsers;
let traces: Traces;
let alphaRaw: Redis;
let consumer: Redis;
let alphaQueue: Queue;
let events: QueueEvents;
let betaParentKey: string;
/** BullMQ leaves a connection it is given open: these close last. */
const given: Redis[] = [];
const give = (redis: Redis) => (given.push(redis), redis);

before(async () => {
  users = await intakeUsers(prefix, ['alpha', 'beta']);
  traces = new Traces(prefix);
  alphaRaw = connectRedis(users.producers['alpha']!.url, 'parent-probe', 'producer');
  consumer = connectRedis(users.consumerUrl, 'parent-consumer', 'worker');
  alphaQueue = queueAs(users.producers['alpha']!.url, keys.intakePrefix('alpha'));
  events = new QueueEvents(INTAKE_QUEUE, { connection: give(consumer.duplicate()), prefix: keys.intakePrefix('alpha') });
  await events.waitUntilReady();
  // Beta's flow: a parent on its own queues waiting for one child on its intake queue.
  const flows = new FlowProducer({ connection: give(traces.redis.duplicate()) });
  const flow = await flows.add({
    name: 'report',
    queueName: 'reports',
    prefix: keys.tenantQueuesPrefix('beta'),
    children: [{ name: 'run-pod', queueName: INTAKE_QUEUE, prefix: keys.intakePrefix('beta'), data: {}, opts: { delay: 3_600_000 } }],
  });
  await flows.close();
  betaParentKey = `${keys.tenantQueuesPrefix('beta')}:reports:${String(flow.job.id)}`;
});

after(async () => {
  await events?.close();
  await alphaQueue?.close();
  alphaRaw?.disconnect();
  consumer?.disconnect();
  for (const redis of given) redis.disconnect();
  await users?.remove();
  await traces?.cleanUp();
});

/** Every key of beta's parent and its children's bookkeeping, with contents. */
async function betaParentState(): Promise<Record<string, unknown>> {
  const r = traces.redis;
  const parentQueue = betaParentKey.slice(0, betaParentKey.lastIndexOf(':'));
  return {
    job: await r.hgetall(betaParentKey),
    dependencies: (await r.smembers(`${betaParentKey}:dependencies`)).sort(),
    processed: await r.hgetall(`${betaParentKey}:processed`),
    failed: await r.hgetall(`${betaParentKey}:failed`),
    unsuccessful: await r.zrange(`${betaParentKey}:unsuccessful`, 0, -1),
    waitingChildren: await r.zrange(`${parentQueue}:waiting-children`, 0, -1),
    wait: await r.lrange(`${parentQueue}:wait`, 0, -1),
  };
}

const cases: Array<{ name: string; flags: Record<string, boolean>; fails: boolean; opts?: JobsOptions }> = [
  { name: 'completed', flags: {}, fails: false },
  { name: 'completed and removed', flags: {}, fails: false, opts: { removeOnComplete: true } },
  { name: 'failed, fail parent on failure', flags: { fpof: true }, fails: true },
  { name: 'failed, continue parent on failure', flags: { cpof: true }, fails: true },
  { name: 'failed, ignore dependency on failure', flags: { idof: true }, fails: true },
  { name: 'failed, remove dependency on failure', flags: { rdof: true }, fails: true, opts: { removeOnFail: true } },
];

describe("a producer that points its running job at another tenant's parent", () => {
  for (const c of cases) {
    test(`${c.name}: that parent is not touched`, async () => {
      const before = await betaParentState();
      assert.equal(await traces.redis.scard(`${betaParentKey}:dependencies`), 1, "beta's parent waits for its child");
      const parentQueueKey = betaParentKey.slice(0, betaParentKey.lastIndexOf(':'));
      const jobId = `sneaky-${c.name.replace(/[^a-z]+/g, '-')}`;
      const worker = new Worker(
        INTAKE_QUEUE,
        async (job) => {
          // After any check at the start: the producer rewrites its own job's parent fields.
          await alphaRaw.hset(
            alphaQueue.toKey(String(job.id)),
            'parentKey',
            betaParentKey,
            'parent',
            JSON.stringify({ id: betaParentKey.slice(parentQueueKey.length + 1), queueKey: parentQueueKey, ...c.flags }),
          );
          if (c.fails) throw new UnrecoverableError('refused');
          return { ok: true };
        },
        { connection: give(consumer.duplicate()), prefix: keys.intakePrefix('alpha'), autorun: false },
      );
      try {
        const job = await alphaQueue.add('run-pod', {}, { jobId, ...c.opts });
        void worker.run();
        const outcome = job.waitUntilFinished(events).then(
          () => 'completed',
          () => 'failed',
        );
        assert.equal(await outcome, c.fails ? 'failed' : 'completed');
        assert.deepEqual(await betaParentState(), before);
      } finally {
        await worker.close();
      }
    });
  }
});

describe("the intake producer's Redis user", () => {
  test('reaches its intake queues only, not other queues under its intake prefix', async () => {
    await assert.rejects(alphaRaw.hset(`${keys.intakePrefix('alpha')}:other:meta`, 'x', '1'), /NOPERM/);
    await assert.rejects(alphaRaw.hset(`${keys.intakePrefix('alpha')}:x:${INTAKE_QUEUE}:meta`, 'x', '1'), /NOPERM/);
  });

  test("cannot be fenced off its queue's meta: BullMQ's add names meta among its script's keys", async () => {
    // A user like the producer's, but with the intake queue's meta hash read-only.
    const base = intakeProducerUser(prefix, 'gamma', 'gamma-password-0001', INTAKE_QUEUES);
    const queueKeys = globLiteral(`${keys.intakePrefix('gamma')}:${INTAKE_QUEUE}:`);
    // Every key of the queue but `meta`, in globs (Redis patterns have no "but").
    const notMeta = ['', '[^m]*', 'm', 'm[^e]*', 'me', 'me[^t]*', 'met', 'met[^a]*', 'meta?*'].map((p) => `${queueKeys}${p}`);
    const user = { ...base, keys: notMeta, readKeys: [`${queueKeys}meta`] };
    await applyAclUsers(traces.redis, [user]);
    const queue = queueAs(redisUrlAs(REDIS_URL, user), keys.intakePrefix('gamma'));
    try {
      assert.deepEqual(await queue.getJobCounts('wait'), { wait: 0 }, 'it may read its queue');
      await assert.rejects(queue.add('run-pod', {}), /NOPERM/);
    } finally {
      await queue.close();
      await removeAclUsers(traces.redis, [user.name]);
    }
  });
});
