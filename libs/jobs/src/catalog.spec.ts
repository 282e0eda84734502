import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '@warmpod/domain';
import { isValidNodeId, JOB_CATALOG, jobIdFor, jobNamesOn, nodeQueueName, SCHEDULING_QUEUE, type JobItem } from './catalog';

describe('job catalog', () => {
  test('jobIdFor is name-podId and never contains ":" (BullMQ refuses custom ids with ":")', () => {
    const podId = newId('pod');
    const items: JobItem[] = [
      { name: 'schedule-pod', data: { podId, requestId: 'req:with:colons' } },
      { name: 'start-pod', data: { podId, requestId: 'r' } },
      { name: 'stop-pod', data: { podId, requestId: 'r', reason: 'user' } },
    ];
    assert.deepEqual(
      items.map(jobIdFor),
      [`schedule-pod-${podId}`, `start-pod-${podId}`, `stop-pod-${podId}`],
    );
    for (const item of items) assert.equal(jobIdFor(item).includes(':'), false);
  });

  test('the same job for the same pod gets the same id, whatever the request', () => {
    const podId = newId('pod');
    assert.equal(
      jobIdFor({ name: 'schedule-pod', data: { podId, requestId: 'a' } }),
      jobIdFor({ name: 'schedule-pod', data: { podId, requestId: 'b' } }),
    );
  });

  test('nodeQueueName accepts DNS-label node ids', () => {
    assert.equal(nodeQueueName('n1'), 'node-n1');
    assert.equal(nodeQueueName('local-0'), 'node-local-0');
    assert.equal(nodeQueueName('a'), 'node-a');
    assert.equal(nodeQueueName('a'.repeat(63)), `node-${'a'.repeat(63)}`);
  });

  test('nodeQueueName refuses anything else, naming the id', () => {
    for (const bad of ['', 'N1', '-a', 'a-', 'a:b', 'a.b', 'a_b', 'a b', 'a'.repeat(64)]) {
      assert.throws(() => nodeQueueName(bad), { message: `invalid node id "${bad}"` }, JSON.stringify(bad));
      assert.equal(isValidNodeId(bad), false, JSON.stringify(bad));
    }
    assert.equal(isValidNodeId('n1'), true);
  });

  test('jobNamesOn lists the jobs of each queue kind', () => {
    assert.deepEqual(jobNamesOn('scheduling'), ['schedule-pod']);
    assert.deepEqual(jobNamesOn('node'), ['start-pod', 'stop-pod']);
    assert.equal(SCHEDULING_QUEUE, 'scheduling');
  });

  test('payload schemas refuse unknown fields and bad pod ids', () => {
    const podId = newId('pod');
    const schema = JOB_CATALOG['schedule-pod'].schema;
    assert.equal(schema.safeParse({ podId, requestId: 'r' }).success, true);
    assert.equal(schema.safeParse({ podId, requestId: 'r', extra: 1 }).success, false);
    assert.equal(schema.safeParse({ podId: 'pod-1', requestId: 'r' }).success, false);
    assert.equal(schema.safeParse({ podId, requestId: '' }).success, false);
    const stop = JOB_CATALOG['stop-pod'].schema;
    assert.equal(stop.safeParse({ podId, requestId: 'r', reason: 'user' }).success, true);
    assert.equal(stop.safeParse({ podId, requestId: 'r', reason: 'because' }).success, false);
    assert.equal(stop.safeParse({ podId, requestId: 'r' }).success, false);
  });
});
