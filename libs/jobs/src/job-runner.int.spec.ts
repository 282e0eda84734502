import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { newId } from '@warmpod/domain';
import { createLogger, currentContext, within, type RequestContext } from '@warmpod/observability';
import { redisOptions } from '@warmpod/devkit';
import { jobIdFor, SCHEDULING_QUEUE, type JobData } from './catalog';
import { PermanentJobError } from './errors';
import { JobBus } from './job-bus';
import { JobRunner } from './job-runner';
import { bullPrefix } from './prefix';

const REDIS = redisOptions();
const prefix = `t-${randomUUID().slice(0, 8)}:`;
/** Every connection this file opens through `redis` (and its duplicates) carries this name. */
const connectionName = `${prefix}jobs`;

interface Call {
  data: JobData<'schedule-pod'>;
  attempt: number;
  jobId: string;
  context: RequestContext | undefined;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let redis: Redis;
let bus: JobBus;
let runner: JobRunner<'scheduling'>;
let events: QueueEvents;
let queue: Queue;
let runnerClosed = false;

const calls: Call[] = [];
/** What the handler does per pod, given the 1-based attempt. */
const behaviour = new Map<string, (attempt: number) => void>();
const giveUps = new Map<string, Deferred<{ data: JobData<'schedule-pod'>; error: Error }>>();

function giveUpOf(podId: string): Deferred<{ data: JobData<'schedule-pod'>; error: Error }> {
  let d = giveUps.get(podId);
  if (!d) giveUps.set(podId, (d = deferred()));
  return d;
}

function callsFor(podId: string): Call[] {
  return calls.filter((c) => c.data.podId === podId);
}

/** Resolves when the job completes or fails for good, as QueueEvents reports it. */
function settled(jobId: string): Promise<{ outcome: 'completed' } | { outcome: 'failed'; failedReason: string }> {
  return new Promise((resolve) => {
    const onCompleted = (args: { jobId: string }): void => {
      if (args.jobId !== jobId) return;
      off();
      resolve({ outcome: 'completed' });
    };
    const onFailed = (args: { jobId: string; failedReason: string }): void => {
      if (args.jobId !== jobId) return;
      off();
      resolve({ outcome: 'failed', failedReason: args.failedReason });
    };
    const off = (): void => {
      events.off('completed', onCompleted);
      events.off('failed', onFailed);
    };
    events.on('completed', onCompleted);
    events.on('failed', onFailed);
  });
}

async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

/** Connections to Redis opened under this file's connection name, other than `redis` itself. */
async function strayConnections(): Promise<string[]> {
  const own = await redis.client('ID');
  const list = (await redis.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${connectionName} `) && !line.startsWith(`id=${own} `))
    .map((line) => line.split(' ')[0]!.slice(3));
}

before(async () => {
  // retryStrategy null: a connection killed in `after` stays dead instead of holding the process open.
  redis = new Redis({ ...REDIS, connectionName, maxRetriesPerRequest: null, retryStrategy: () => null });
  bus = new JobBus(redis, prefix);
  // The same queue the bus and the runner use: BullMQ's prefix is the warmpod prefix without its ':'.
  queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
  // Reading the stream from its start: no event can be missed, and the prefix is ours alone.
  events = new QueueEvents(SCHEDULING_QUEUE, { connection: REDIS, prefix: bullPrefix(prefix), lastEventId: '0-0' });
  await events.waitUntilReady();
  runner = new JobRunner({
    kind: 'scheduling',
    queueName: SCHEDULING_QUEUE,
    connection: redis,
    prefix,
    concurrency: 2,
    logger: createLogger({ service: 'job-runner-int', level: 'silent' }),
    handlers: {
      'schedule-pod': {
        async run(data, meta) {
          calls.push({ data, attempt: meta.attempt, jobId: meta.jobId, context: currentContext() });
          behaviour.get(data.podId)?.(meta.attempt);
        },
        async onGiveUp(data, error) {
          giveUpOf(data.podId).resolve({ data, error });
        },
      },
    },
  });
  runner.start();
});

after(async () => {
  if (!runnerClosed) await runner?.close();
  await events?.close();
  await queue?.close();
  await bus?.close();
  if (redis) {
    // Anything the runner left open (see the last test) is closed here so the process can exit.
    for (const id of await strayConnections()) await redis.client('KILL', 'ID', id);
    await deleteKeys(redis, `${prefix}*`);
    await redis.quit();
  }
});

describe('JobRunner on real Redis', () => {
  test('a valid job is handled once, with its request id bound for the whole job', async () => {
    const podId = newId('pod');
    const item = { name: 'schedule-pod' as const, data: { podId, requestId: 'req-valid-1' } };
    const done = settled(jobIdFor(item));
    await bus.toScheduler(item);
    assert.deepEqual(await within(done, 10_000, 'the job to finish'), { outcome: 'completed' });
    assert.deepEqual(callsFor(podId), [
      {
        data: { podId, requestId: 'req-valid-1' },
        attempt: 1,
        jobId: `schedule-pod-${podId}`,
        context: { requestId: 'req-valid-1', bindings: { job: 'schedule-pod', jobId: `schedule-pod-${podId}`, podId } },
      },
    ]);
    // removeOnComplete: nothing stays behind once done.
    assert.equal(await queue.getJob(jobIdFor(item)), undefined);
  });

  test('the same schedule-pod added twice while the first waits is one job', async () => {
    const podId = newId('pod');
    const item = { name: 'schedule-pod' as const, data: { podId, requestId: 'req-dedup' } };
    await queue.pause();
    try {
      await bus.toScheduler(item);
      await bus.toScheduler({ ...item, data: { ...item.data, requestId: 'req-dedup-again' } });
      const queued = await queue.getJobs(['wait', 'prioritized', 'delayed', 'active']);
      assert.deepEqual(
        queued.map((j) => [j.id, j.data]),
        [[`schedule-pod-${podId}`, { podId, requestId: 'req-dedup' }]],
      );
    } finally {
      await queue.resume();
    }
    assert.deepEqual(await within(settled(jobIdFor(item)), 10_000, 'the job to finish'), { outcome: 'completed' });
    assert.deepEqual(
      callsFor(podId).map((c) => c.data.requestId),
      ['req-dedup'],
    );
  });

  test('a payload with a bad pod id fails at once, without reaching the handler', async () => {
    const jobId = `bad-${randomUUID().slice(0, 8)}`;
    const done = settled(jobId);
    await queue.add('schedule-pod', { podId: 'pod-1', requestId: 'req-bad' }, { jobId, attempts: 5, backoff: { type: 'warmpod' } });
    assert.deepEqual(await within(done, 10_000, 'the job to fail'), {
      outcome: 'failed',
      failedReason: 'invalid payload for schedule-pod: podId: podId is not a pod id',
    });
    const job = await Job.fromId(queue, jobId);
    assert.equal(job?.attemptsMade, 1);
    assert.equal(
      calls.some((c) => c.data.podId === 'pod-1'),
      false,
    );
  });

  test('a payload with an unknown field fails without retry, and onGiveUp still hears of the pod', async () => {
    const podId = newId('pod');
    const jobId = `schedule-pod-${podId}`;
    const done = settled(jobId);
    await queue.add(
      'schedule-pod',
      { podId, requestId: 'req-extra', priority: 'high' },
      { jobId, attempts: 5, backoff: { type: 'warmpod' } },
    );
    const result = await within(done, 10_000, 'the job to fail');
    assert.equal(result.outcome, 'failed');
    assert.match((result as { failedReason: string }).failedReason, /^invalid payload for schedule-pod: .*priority/);
    assert.equal((await Job.fromId(queue, jobId))?.attemptsMade, 1);
    assert.deepEqual(callsFor(podId), []);
    // The job failed for good, so the give-up hook must run: otherwise the pod waits in Pending forever.
    const { data, error } = await within(giveUpOf(podId).promise, 3_000, 'onGiveUp');
    assert.equal(data.podId, podId);
    assert.match(error.message, /^invalid payload for schedule-pod/);
  });

  test('a job name that is not on this queue fails without retry', async () => {
    const podId = newId('pod');
    const jobId = `start-pod-${podId}`;
    const done = settled(jobId);
    await queue.add('start-pod', { podId, requestId: 'req-wrong-queue' }, { jobId, attempts: 5, backoff: { type: 'warmpod' } });
    assert.deepEqual(await within(done, 10_000, 'the job to fail'), {
      outcome: 'failed',
      failedReason: 'job "start-pod" is not in the catalog for scheduling',
    });
    assert.equal((await Job.fromId(queue, jobId))?.attemptsMade, 1);
    assert.deepEqual(callsFor(podId), []);
  });

  test('a PermanentJobError is not retried, and onGiveUp gets its message', async () => {
    const podId = newId('pod');
    behaviour.set(podId, () => {
      throw new PermanentJobError('image was deleted from the registry');
    });
    const item = { name: 'schedule-pod' as const, data: { podId, requestId: 'req-permanent' } };
    const done = settled(jobIdFor(item));
    await bus.toScheduler(item);
    assert.deepEqual(await within(done, 10_000, 'the job to fail'), {
      outcome: 'failed',
      failedReason: 'image was deleted from the registry',
    });
    const job = await Job.fromId(queue, jobIdFor(item));
    assert.equal(job?.attemptsMade, 1);
    assert.equal(job?.opts.attempts, 200);
    assert.deepEqual(
      callsFor(podId).map((c) => c.attempt),
      [1],
    );
    const { data, error } = await within(giveUpOf(podId).promise, 3_000, 'onGiveUp');
    assert.deepEqual(data, { podId, requestId: 'req-permanent' });
    assert.equal(error.message, 'image was deleted from the registry');
  });

  test('a normal error is retried with backoff until the handler succeeds', async () => {
    const podId = newId('pod');
    behaviour.set(podId, (attempt) => {
      if (attempt < 3) throw new Error(`transient ${attempt}`);
    });
    const item = { name: 'schedule-pod' as const, data: { podId, requestId: 'req-retry' } };
    const done = settled(jobIdFor(item));
    const started = Date.now();
    await bus.toScheduler(item);
    assert.deepEqual(await within(done, 10_000, 'the job to finish'), { outcome: 'completed' });
    // The scheduling policy waits 250 ms, then 500 ms.
    assert.ok(Date.now() - started >= 700, `retried too fast: ${Date.now() - started} ms`);
    assert.deepEqual(
      callsFor(podId).map((c) => [c.attempt, c.context?.requestId]),
      [
        [1, 'req-retry'],
        [2, 'req-retry'],
        [3, 'req-retry'],
      ],
    );
    assert.equal(giveUps.has(podId), false);
  });

  test('when the attempts run out, onGiveUp gets the last error', async () => {
    const podId = newId('pod');
    behaviour.set(podId, (attempt) => {
      throw new Error(`still broken ${attempt}`);
    });
    const jobId = `schedule-pod-${podId}`;
    const done = settled(jobId);
    // Same options JobBus uses, but two attempts so the test stays short.
    await queue.add('schedule-pod', { podId, requestId: 'req-exhaust' }, { jobId, attempts: 2, backoff: { type: 'warmpod' } });
    assert.deepEqual(await within(done, 10_000, 'the job to fail'), { outcome: 'failed', failedReason: 'still broken 2' });
    assert.equal((await Job.fromId(queue, jobId))?.attemptsMade, 2);
    const { error } = await within(giveUpOf(podId).promise, 3_000, 'onGiveUp');
    assert.equal(error.message, 'still broken 2');
  });

  test('closing the runner closes every Redis connection it opened', async () => {
    await runner.close();
    runnerClosed = true;
    assert.deepEqual(await strayConnections(), []);
  });
});
