import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PodPhase, PodRecord } from '@warmpod/domain';
import { podOutcome } from './pod-outcome';

const pod = (phase: PodPhase, extra: Partial<PodRecord> = {}): PodRecord =>
  ({
    id: 'pod-1',
    tenant: 't',
    createdAt: '',
    labels: {},
    image: { requested: 'a', pinned: 'b', digest: 'c' },
    spec: { restartPolicy: 'Never' },
    phase,
    timeline: {},
    endpoints: [],
    restarts: 0,
    ...extra,
  }) as PodRecord;

describe('podOutcome', () => {
  test('waitFor Running completes at Running (or a pod that already succeeded), Ended only once it ended', () => {
    for (const phase of ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Restoring'] as const) {
      assert.equal(podOutcome(pod(phase), 'Running').kind, 'wait', phase);
      assert.equal(podOutcome(pod(phase), 'Ended').kind, 'wait', phase);
    }
    assert.equal(podOutcome(pod('Running'), 'Running').kind, 'done');
    assert.equal(podOutcome(pod('Running'), 'Ended').kind, 'wait');
    assert.equal(podOutcome(pod('Succeeded'), 'Running').kind, 'done');
    assert.equal(podOutcome(pod('Succeeded'), 'Ended').kind, 'done');
  });

  test('failed, stopped and lost-for-good pods fail the job with the reason', () => {
    assert.deepEqual(podOutcome(pod('Failed', { exitCode: 3 }), 'Ended'), {
      kind: 'fail',
      code: 'pod_failed',
      message: 'pod pod-1 failed with exit code 3',
    });
    assert.equal(podOutcome(pod('Stopped', { message: 'by the user' }), 'Running').kind, 'fail');
    assert.equal(podOutcome(pod('Lost', { node: 'n1' }), 'Running').kind, 'fail');
    const restarting = pod('Lost', { spec: { restartPolicy: 'OnFailure' } as PodRecord['spec'] });
    assert.equal(podOutcome(restarting, 'Running').kind, 'wait');
  });
});
