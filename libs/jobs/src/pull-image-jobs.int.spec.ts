import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger, currentContext, within, type RequestContext } from '@warmpod/observability';
import { redisOptions } from '@warmpod/devkit';
import { jobIdFor, nodeQueueName, type JobData, type JobRef } from './catalog';
import { JobBus } from './job-bus';
import { JobRunner, type JobHandler } from './job-runner';
import { bullPrefix } from './prefix';

const REDIS = redisOptions();
const prefix = `t-pull-${randomUUID().slice(0, 8)}:`;
const NODE = 'n1';
const OTHER = 'n2';

function digest(): string {
  return `sha256:${randomBytes(32).toString('hex')}`;
}

function payload(d: string, requestId = 'req'): JobData<'pull-image'> {
  return { digest: d, pinned: `127.0.0.1:5000/team/app@${d}`, requestId };
}

interface GiveUp {
  data: JobData<'pull-image'> | JobRef<'pull-image'>;
  error: Error;
  attempts: number;
}

let redis: Redis;
let bus: JobBus;
let queue: Queue;
let other: Queue;
let events: QueueEvents;
let runner: JobRunner<'node'>;
const runs: Array<{ data: JobData<'pull-image'>; attempt: number; context: RequestContext | undefined }> = [];
const failing = new Set<string>();
const giveUps = new Map<string, (g: GiveUp) => void>();

function giveUpOf(d: string): Promise<GiveUp> {
  return new Promise((resolve) => giveUps.set(d, resolve));
}

function settled(jobId: string): Promise<string> {
  return new Promise((resolve) => {
    const done = (outcome: string) => (args: { jobId: string }) => {
      if (args.jobId !== jobId) return;
      events.off('completed', onCompleted);
      events.off('failed', onFailed);
      resolve(outcome);
    };
    const onCompleted = done('completed');
    const onFailed = done('failed');
    events.on('completed', onCompleted);
    events.on('failed', onFailed);
  });
}

const unused: JobHandler<never> = { run: async () => undefined };

before(async () => {
  redis = new Redis({ ...REDIS, maxRetriesPerRequest: null });
  bus = new JobBus(redis, prefix);
  queue = new Queue(nodeQueueName(NODE), { connection: redis, prefix: bullPrefix(prefix) });
  other = new Queue(nodeQueueName(OTHER), { connection: redis, prefix: bullPrefix(prefix) });
  events = new QueueEvents(nodeQueueName(NODE), { connection: REDIS, prefix: bullPrefix(prefix), lastEventId: '0-0' });
  await events.waitUntilReady();
  runner = new JobRunner({
    kind: 'node',
    queueName: nodeQueueName(NODE),
    connection: redis,
    prefix,
    concurrency: 2,
    logger: createLogger({ service: 'pull-image-int', level: 'silent' }),
    handlers: {
      'start-pod': unused,
      'stop-pod': unused,
      'checkpoint-pod': unused,
      'delete-checkpoint': unused,
      'drain-node': unused,
      'pull-image': {
        async run(data, meta) {
          runs.push({ data, attempt: meta.attempt, context: currentContext() });
          if (failing.has(data.digest)) throw new Error(`registry went away (attempt ${meta.attempt})`);
        },
        async onGiveUp(data, error, meta) {
          giveUps.get(data.digest)?.({ data, error, attempts: meta.attempts });
        },
      },
    },
  });
  runner.start();
});

after(async () => {
  await runner?.close();
  await events?.close();
  await queue?.close();
  await other?.close();
  await bus?.close();
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
});

describe('pull-image on node queues (real Redis)', () => {
  test('a digest queued twice for a node is one job; the same digest for another node is its own job', async () => {
    const d = digest();
    await queue.pause();
    try {
      await bus.pullToNode(NODE, payload(d, 'first'));
      await bus.pullToNode(NODE, payload(d, 'second'));
      await bus.pullToNode(OTHER, payload(d, 'other-node'));
      const waiting = await queue.getJobs(['wait', 'prioritized', 'delayed', 'active']);
      assert.deepEqual(
        waiting.map((j) => [j.id, j.data.requestId]),
        [[`pull-image-${d.slice(7)}`, 'first']],
      );
      assert.equal((await other.getJobs(['wait'])).length, 1);
      assert.equal((await queue.getJob(jobIdFor({ name: 'pull-image', data: payload(d) })))?.opts.attempts, 3, 'node queue retry policy');
    } finally {
      await queue.resume();
    }
    assert.equal(await within(settled(`pull-image-${d.slice(7)}`), 10_000, 'the pull job'), 'completed');
    assert.deepEqual(
      runs.filter((r) => r.data.digest === d).map((r) => r.data.requestId),
      ['first'],
    );
  });

  test('the job binds its request id and digest (not a pod id) for its logs', async () => {
    const d = digest();
    const done = settled(`pull-image-${d.slice(7)}`);
    await bus.pullToNode(NODE, payload(d, 'req-bind'));
    assert.equal(await within(done, 10_000, 'the pull job'), 'completed');
    const run = runs.find((r) => r.data.digest === d)!;
    assert.deepEqual(run.context, { requestId: 'req-bind', bindings: { job: 'pull-image', jobId: `pull-image-${d.slice(7)}`, digest: d } });
  });

  test('a pull that keeps failing is retried by the node policy, gives up with its attempts, and can be queued again', async () => {
    const d = digest();
    failing.add(d);
    const gaveUp = giveUpOf(d);
    const done = settled(`pull-image-${d.slice(7)}`);
    await bus.pullToNode(NODE, payload(d, 'req-fail'));
    assert.equal(await within(done, 15_000, 'the pull job to fail'), 'failed');
    const g = await within(gaveUp, 3_000, 'onGiveUp');
    assert.equal(g.attempts, 3);
    assert.deepEqual(g.data, payload(d, 'req-fail'));
    assert.match(g.error.message, /registry went away \(attempt 3\)/);
    assert.deepEqual(
      runs.filter((r) => r.data.digest === d).map((r) => r.attempt),
      [1, 2, 3],
    );

    // The failed job is gone, so a fresh try of the same digest is a new job, not a no-op.
    failing.delete(d);
    const again = settled(`pull-image-${d.slice(7)}`);
    await bus.pullToNode(NODE, payload(d, 'req-again'));
    assert.equal(await within(again, 10_000, 'the second pull job'), 'completed');
    assert.deepEqual(
      runs.filter((r) => r.data.digest === d).map((r) => r.data.requestId),
      ['req-fail', 'req-fail', 'req-fail', 'req-again'],
    );
  });

  test('an invalid pull-image payload fails at once and the give-up hook still gets the digest', async () => {
    const d = digest();
    const gaveUp = giveUpOf(d);
    const jobId = `pull-image-${d.slice(7)}`;
    const done = settled(jobId);
    await queue.add('pull-image', { digest: d, pinned: '127.0.0.1:5000/team/app:latest', requestId: 'req-bad' }, { jobId, attempts: 3 });
    assert.equal(await within(done, 10_000, 'the invalid job'), 'failed');
    const g = await within(gaveUp, 3_000, 'onGiveUp');
    assert.deepEqual(g.data, { digest: d, requestId: 'req-bad' });
    assert.equal(g.attempts, 1);
    assert.match(g.error.message, /^invalid payload for pull-image: pinned/);
  });
});
