import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger } from '@warmpod/observability';
import { Keys } from '@warmpod/store';
import { redisUrl } from '@warmpod/devkit';
import { Backlog } from './backlog';

const prefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'backlog-int', level: 'silent' });

describe('Backlog on real Redis', () => {
  let redis: Redis;
  let queue: Queue;
  let backlog: Backlog;

  before(async () => {
    redis = new Redis(redisUrl());
    queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
    backlog = new Backlog(redis, queue, prefix, logger);
    await backlog.start();
  });

  after(async () => {
    await backlog.stop();
    await queue.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  test('freed capacity promotes a waiting pod at once instead of after its backoff', async () => {
    const podId = 'pod-aaaaaaaaaaaaaaaaaaaa';
    const job = await queue.add('schedule-pod', { podId, requestId: 'r' }, { jobId: `schedule-pod-${podId}`, delay: 60_000 });
    await backlog.add(podId, job.id!);
    assert.equal(await job.getState(), 'delayed');

    // What a release announces: the node's usage after it.
    await redis.publish(new Keys(prefix).capacityFreed(), 'n1 0 0 0 1');
    const deadline = Date.now() + 5_000;
    let state = await job.getState();
    while (state === 'delayed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      state = await job.getState();
    }
    assert.equal(state, 'waiting');
  });

  test('entries whose job is gone are dropped', async () => {
    await backlog.add('pod-cccccccccccccccccccc', 'schedule-pod-missing');
    await backlog.wake();
    assert.equal(await redis.hexists(`${prefix}backlog`, 'pod-cccccccccccccccccccc'), 0);
  });
});
