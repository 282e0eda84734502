import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import fc from 'fast-check';
import { createLogger } from '@warmpod/observability';
import { dropKeys, FuzzTally, fuzzRuns, keyContents, redisOptions } from '@warmpod/devkit';
import { JOB_CATALOG, jobNamesOn, nodeQueueName, SCHEDULING_QUEUE, type JobItem, type JobName, type QueueKind } from './catalog';
import { JobBus } from './job-bus';
import { JobRunner, type HandlerTable } from './job-runner';
import { bullPrefix } from './prefix';
import { RETRY_POLICIES } from './retry-policy';
import { badPayloadOn, type BadPayload } from './testing/bad-payloads';

/**
 * Bad job payloads, generated (issue #12, item 6), on real BullMQ and Redis.
 * Producer side: `JobBus` refuses every one before anything is queued.
 * Consumer side: payloads a buggy or older producer (or a hand-edited Redis)
 * put on a queue reach a real `JobRunner` with every job's handler; each job
 * fails once with an error naming the job and the field, is not retried
 * (whatever its attempts), no handler runs, and nothing else is queued.
 */
const RUNS = fuzzRuns(40);
const prefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'jobs-bad-payloads', level: 'silent' });
const tally = new FuzzTally();
let redis: Redis;

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

after(async () => {
  for (const line of tally.lines()) process.stdout.write(`${line}\n`);
  await dropKeys(redis, prefix);
  await redis.quit();
});

describe('JobBus: a bad payload is refused before anything is queued', () => {
  test('every producer call, every job', async (t) => {
    const bus = new JobBus(redis, prefix);
    const was = await keyContents(redis, prefix);
    await fc.assert(
      fc.asyncProperty(badPayloadOn('scheduling'), badPayloadOn('node'), async (scheduling, node) => {
        for (const bad of [scheduling, node]) {
          // The catalog types forbid these calls; a payload from outside (or a bug) arrives untyped.
          const item = { name: bad.name, data: bad.data } as JobItem;
          const send =
            item.name === 'schedule-pod'
              ? bus.toScheduler(item)
              : item.name === 'pull-image'
                ? bus.pullToNode('node-1', item.data)
                : bus.toNode('node-1', item);
          await assert.rejects(send, (error: Error) => {
            for (const name of bad.names) assert.ok(error.message.includes(name), `${error.message} names ${name}`);
            return true;
          });
          tally.add('JobBus producer');
        }
        assert.deepEqual(await keyContents(redis, prefix), was, 'nothing was queued');
      }),
      { numRuns: RUNS },
    );
    await bus.close();
    t.diagnostic(`${tally.get('JobBus producer')} bad payloads refused by the producer, nothing queued`);
  });
});

interface GiveUp {
  name: JobName;
  data: unknown;
}

/** Handlers that only record: none may run for a bad payload. */
function recordingHandlers<K extends QueueKind>(kind: K, ran: string[], gaveUp: GiveUp[]): HandlerTable<K> {
  const table: Record<string, object> = {};
  for (const name of jobNamesOn(kind)) {
    table[name] = {
      run: async () => void ran.push(name),
      onGiveUp: async (data: unknown) => void gaveUp.push({ name, data }),
    };
  }
  return table as HandlerTable<K>;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

for (const kind of ['scheduling', 'node'] as const) {
  const queueName = kind === 'scheduling' ? SCHEDULING_QUEUE : nodeQueueName('node-fuzz');

  describe(`JobRunner on ${queueName}: bad payloads fail once with a clear error, no handler runs`, () => {
    test(`every ${kind} job, and names outside the catalog`, async (t) => {
      const ran: string[] = [];
      const gaveUp: GiveUp[] = [];
      const runner = new JobRunner({
        kind,
        queueName,
        connection: redis,
        prefix,
        concurrency: 8,
        handlers: recordingHandlers(kind, ran, gaveUp),
        logger,
      });
      const queue = new Queue(queueName, { connection: redis, prefix: bullPrefix(prefix) });
      try {
        // Generated up front and queued together: one wait for the lot keeps the run short.
        const bad: Array<BadPayload | { name: string; data: unknown; names: string[] }> = [
          ...fc.sample(badPayloadOn(kind), RUNS),
          ...fc
            .sample(
              fc
                .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 1 }))
                .filter(([n]) => !jobNamesOn(kind).includes(n as never)),
              Math.ceil(RUNS / 4),
            )
            .map(([name, data]) => ({ name, data, names: [] })),
        ];
        const { attempts } = RETRY_POLICIES[kind];
        const ids: string[] = [];
        for (const b of bad) ids.push((await queue.add(b.name, b.data, { attempts, backoff: { type: 'fixed', delay: 10 } })).id!);
        runner.start();
        await waitUntil(`${ids.length} jobs failed`, async () => (await queue.getJobCounts('failed'))['failed'] === ids.length);

        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
        assert.deepEqual(
          counts,
          { waiting: 0, active: 0, delayed: 0, prioritized: 0, completed: 0, failed: ids.length },
          'nothing else queued',
        );
        for (const [i, id] of ids.entries()) {
          const job = (await queue.getJob(id))!;
          const b = bad[i]!;
          const what = `${b.name} ${JSON.stringify(b.data)}`;
          assert.equal(job.attemptsMade, 1, `${what}: not retried (attempts ${attempts})`);
          const inCatalog = jobNamesOn(kind).includes(b.name as never);
          assert.match(job.failedReason, inCatalog ? new RegExp(`^invalid payload for ${b.name}: `) : /is not in the catalog for/, what);
          for (const name of b.names) assert.ok(job.failedReason.includes(name), `${job.failedReason} names ${name}`);
        }
        assert.deepEqual(ran, [], 'no handler ran');
        // A give-up hook may still mark the pod (or digest) it names as failed, but only one a valid subject names.
        for (const g of gaveUp) assert.ok(JOB_CATALOG[g.name].ref.safeParse(g.data).success, JSON.stringify(g));
        tally.add(`JobRunner ${kind} queue`, ids.length);
        t.diagnostic(`${ids.length} bad jobs failed once with the field named; ${gaveUp.length} give-up hooks got a valid subject`);
      } finally {
        await runner.close();
        await queue.close();
      }
    });
  });
}
