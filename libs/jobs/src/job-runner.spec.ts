import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createLogger } from '@warmpod/observability';
import { JobRunner, type HandlerTable, type JobHandler } from './job-runner';
import type { QueueKind } from './catalog';

// Construction checks the handler table only; no connection is opened until start().
const noConnection = undefined as unknown as Redis;
const logger = createLogger({ service: 'job-runner-spec', level: 'silent' });
const handler: JobHandler<never> = { run: async () => undefined };
const checkpointJobs = { 'checkpoint-pod': handler, 'delete-checkpoint': handler, 'drain-node': handler };

function construct<K extends QueueKind>(kind: K, handlers: Record<string, unknown>): JobRunner<K> {
  return new JobRunner({
    kind,
    queueName: kind === 'node' ? 'node-n1' : 'scheduling',
    connection: noConnection,
    prefix: 'unit:',
    concurrency: 1,
    handlers: handlers as unknown as HandlerTable<K>,
    logger,
  });
}

describe('JobRunner handler table', () => {
  test('a complete table constructs', () => {
    assert.ok(construct('scheduling', { 'schedule-pod': handler }) instanceof JobRunner);
    assert.ok(
      construct('node', { 'start-pod': handler, 'stop-pod': handler, 'pull-image': handler, ...checkpointJobs }) instanceof JobRunner,
    );
  });

  test('a missing handler is refused, naming it', () => {
    assert.throws(() => construct('scheduling', {}), {
      message: 'job handlers for scheduling do not match the catalog; missing: schedule-pod',
    });
    assert.throws(() => construct('node', { 'start-pod': handler, ...checkpointJobs }), {
      message: 'job handlers for node-n1 do not match the catalog; missing: pull-image, stop-pod',
    });
  });

  test('a handler for a job of another queue, or not in the catalog, is refused', () => {
    assert.throws(() => construct('scheduling', { 'schedule-pod': handler, 'start-pod': handler }), {
      message: 'job handlers for scheduling do not match the catalog; not in catalog for this queue: start-pod',
    });
    assert.throws(
      () =>
        construct('node', { 'start-pod': handler, 'stop-pod': handler, 'pull-image': handler, ...checkpointJobs, 'reboot-node': handler }),
      {
        message: 'job handlers for node-n1 do not match the catalog; not in catalog for this queue: reboot-node',
      },
    );
  });

  test('missing and extra are reported together', () => {
    assert.throws(() => construct('node', { 'start-pod': handler, 'pull-image': handler, ...checkpointJobs, 'schedule-pod': handler }), {
      message: 'job handlers for node-n1 do not match the catalog; missing: stop-pod; not in catalog for this queue: schedule-pod',
    });
  });
});
