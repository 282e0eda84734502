import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isValidNodeId, newId } from '@warmpod/domain';
import { JOB_CATALOG, jobIdFor, jobNamesOn, jobSubject, nodeQueueName, SCHEDULING_QUEUE, type JobItem } from './catalog';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PINNED = `127.0.0.1:5000/team/app@${DIGEST}`;

describe('job catalog', () => {
  test('jobIdFor is name-podId and never contains ":" (BullMQ refuses custom ids with ":")', () => {
    const podId = newId('pod');
    const items: JobItem[] = [
      { name: 'schedule-pod', data: { podId, requestId: 'req:with:colons' } },
      { name: 'start-pod', data: { podId, requestId: 'r' } },
      { name: 'stop-pod', data: { podId, requestId: 'r', reason: 'user' } },
    ];
    assert.deepEqual(items.map(jobIdFor), [`schedule-pod-${podId}`, `start-pod-${podId}`, `stop-pod-${podId}`]);
    for (const item of items) assert.equal(jobIdFor(item).includes(':'), false);
  });

  test('the same job for the same pod gets the same id, whatever the request', () => {
    const podId = newId('pod');
    assert.equal(
      jobIdFor({ name: 'schedule-pod', data: { podId, requestId: 'a' } }),
      jobIdFor({ name: 'schedule-pod', data: { podId, requestId: 'b' } }),
    );
  });

  test('nodeQueueName accepts node ids that are DNS subdomains, and the name has no ":"', () => {
    assert.equal(nodeQueueName('n1'), 'node-n1');
    assert.equal(nodeQueueName('ip-10-0-0-1.ec2.internal'), 'node-ip-10-0-0-1.ec2.internal');
    assert.equal(nodeQueueName('local-0'), 'node-local-0');
    assert.equal(nodeQueueName('a'), 'node-a');
    assert.equal(nodeQueueName('a'.repeat(63)), `node-${'a'.repeat(63)}`);
  });

  test('nodeQueueName refuses anything else, naming the id', () => {
    for (const bad of ['', 'N1', '-a', 'a-', 'a:b', 'a..b', '.a', 'a_b', 'a b', 'a'.repeat(64)]) {
      assert.throws(() => nodeQueueName(bad), { message: `invalid node id "${bad}"` }, JSON.stringify(bad));
      assert.equal(isValidNodeId(bad), false, JSON.stringify(bad));
    }
    assert.equal(isValidNodeId('n1'), true);
  });

  test('jobNamesOn lists the jobs of each queue kind', () => {
    assert.deepEqual(jobNamesOn('scheduling'), ['schedule-pod']);
    assert.deepEqual(jobNamesOn('node'), ['start-pod', 'stop-pod', 'pull-image', 'checkpoint-pod', 'delete-checkpoint', 'drain-node']);
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

  test('pull-image ids are per digest (one job per digest on a node queue), whatever the request or the registry', () => {
    const a: JobItem = { name: 'pull-image', data: { digest: DIGEST, pinned: PINNED, requestId: 'a' } };
    const b: JobItem = { name: 'pull-image', data: { digest: DIGEST, pinned: `registry.example/team/app@${DIGEST}`, requestId: 'b:c' } };
    assert.equal(jobIdFor(a), `pull-image-${'ab'.repeat(32)}`);
    assert.equal(jobIdFor(b), jobIdFor(a));
    assert.equal(jobIdFor(a).includes(':'), false);
  });

  test('pull-image payloads: a sha256 digest, a pinned reference naming that digest, nothing else', () => {
    const schema = JOB_CATALOG['pull-image'].schema;
    const ok = { digest: DIGEST, pinned: PINNED, requestId: 'r' };
    assert.equal(schema.safeParse(ok).success, true);
    const refused: Array<[string, unknown]> = [
      ['a tag instead of a digest', { ...ok, pinned: '127.0.0.1:5000/team/app:v1' }],
      ['a pinned reference of another digest', { ...ok, pinned: `127.0.0.1:5000/team/app@sha256:${'cd'.repeat(32)}` }],
      ['a digest that is not sha256', { ...ok, digest: 'md5:abc' }],
      ['an upper-case digest', { ...ok, digest: DIGEST.toUpperCase() }],
      ['an unknown field', { ...ok, podId: 'pod-x' }],
      ['no request id', { digest: DIGEST, pinned: PINNED }],
    ];
    for (const [why, payload] of refused) assert.equal(schema.safeParse(payload).success, false, why);
    const issues = schema.safeParse({ ...ok, pinned: `127.0.0.1:5000/team/app@sha256:${'cd'.repeat(32)}` }).error!.issues;
    assert.deepEqual(
      issues.map((i) => [i.path.join('.'), i.message]),
      [['pinned', 'pinned names another digest']],
    );
  });

  test('a give-up hook can still find the digest of an invalid pull-image payload', () => {
    const ref = JOB_CATALOG['pull-image'].ref.safeParse({ digest: DIGEST, pinned: 'bad', requestId: 'r', extra: 1 });
    assert.deepEqual(ref.data, { digest: DIGEST, requestId: 'r' });
  });

  test('jobSubject binds the pod or the digest a job is about', () => {
    assert.deepEqual(jobSubject({ podId: 'pod-1', requestId: 'r' }), { podId: 'pod-1' });
    assert.deepEqual(jobSubject({ digest: DIGEST, pinned: PINNED, requestId: 'r' }), { digest: DIGEST });
    assert.deepEqual(jobSubject(undefined), {});
  });

  test('checkpoint jobs: one job per checkpoint id, payloads checked, the give-up hook still finds the checkpoint', () => {
    const podId = newId('pod');
    const checkpointId = newId('ckpt');
    const take: JobItem = { name: 'checkpoint-pod', data: { podId, requestId: 'r', checkpointId } };
    const drop: JobItem = { name: 'delete-checkpoint', data: { checkpointId, requestId: 'r' } };
    assert.equal(jobIdFor(take), `checkpoint-pod-${checkpointId}`);
    assert.equal(jobIdFor(drop), `delete-checkpoint-${checkpointId}`);
    assert.equal(JOB_CATALOG['checkpoint-pod'].schema.safeParse({ podId, requestId: 'r', checkpointId: 'ckpt-../x' }).success, false);
    assert.equal(
      JOB_CATALOG['delete-checkpoint'].schema.safeParse({ checkpointId, requestId: 'r', podId }).success,
      false,
      'unknown fields are refused',
    );
    const ref = JOB_CATALOG['checkpoint-pod'].ref.safeParse({ podId, requestId: 'r', checkpointId, extra: 1 });
    assert.deepEqual(ref.data, { podId, requestId: 'r', checkpointId });
    assert.deepEqual(jobSubject(take.data), { podId, checkpointId });
  });
});
