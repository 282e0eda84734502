import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { NodeRuntimeError, RestoreAbortedError } from '@warmpod/node-runtime';
import { RegistryError } from '@warmpod/registry';
import { planStart, startEntry, startFailure, unrestoredMode, withCheckpointFailure } from './pod-start-plan';
import { NODE, scheduledPod } from './testing/fake-node';

const live = new AbortController().signal;

describe('start plan', () => {
  test('entry: nothing for a gone, ended or Running pod; misplaced for another node; start otherwise', () => {
    assert.equal(startEntry(undefined, NODE).kind, 'nothing');
    assert.equal(startEntry(scheduledPod({ phase: 'Failed' }), NODE).kind, 'nothing');
    assert.equal(startEntry(scheduledPod({ phase: 'Running' }), NODE).kind, 'nothing');
    assert.deepEqual(startEntry(scheduledPod({ node: 'node-b' }), NODE).kind, 'misplaced');
    assert.equal(startEntry(scheduledPod({ phase: 'Pulling' }), NODE).kind, 'start');
  });

  test('pull and plain start mode follow the cache; leftovers are cleared only on a retry', () => {
    const pod = scheduledPod();
    assert.deepEqual(planStart({ pod, attempt: 1, cached: false, canCheckpoint: true }), {
      pull: true,
      clearLeftovers: false,
      plainMode: 'cold',
    });
    assert.deepEqual(planStart({ pod, attempt: 2, cached: true, canCheckpoint: true }), {
      pull: false,
      clearLeftovers: true,
      plainMode: 'warm-cache',
    });
    assert.equal(
      planStart({ pod: scheduledPod({ phase: 'Restoring' }), attempt: 1, cached: true, canCheckpoint: true }).clearLeftovers,
      true,
    );
  });

  test('checkpointed only when the scheduler turned it on, the pod has a condition and the node can; restore not tried from Starting', () => {
    const pod = scheduledPod({ checkpoint: true });
    assert.deepEqual(planStart({ pod, attempt: 1, cached: true, canCheckpoint: true }).checkpointed, {
      condition: { type: 'tcp', port: 8080 },
      tryRestore: true,
    });
    assert.equal(planStart({ pod, attempt: 1, cached: true, canCheckpoint: false }).checkpointed, undefined);
    const off = planStart({
      pod: { ...pod, checkpointing: { enabled: false, code: 'policy', reason: 'off' } },
      attempt: 1,
      cached: true,
      canCheckpoint: true,
    });
    assert.equal(off.checkpointed, undefined);
    const starting = scheduledPod({ checkpoint: true, phase: 'Starting' });
    assert.equal(planStart({ pod: starting, attempt: 2, cached: true, canCheckpoint: true }).checkpointed?.tryRestore, false);
  });

  test('a checkpointed start is cold, or fallback after a failed restore; failures add up on the status', () => {
    assert.equal(unrestoredMode({}), 'cold');
    assert.equal(unrestoredMode({ restoredFrom: 'ckpt-1', error: 'x' }), 'fallback');
    assert.deepEqual(withCheckpointFailure({ restoredFrom: 'ckpt-1', error: 'restore failed' }, 'no disk'), {
      restoredFrom: 'ckpt-1',
      error: 'restore failed; checkpoint failed: no disk',
    });
    assert.deepEqual(withCheckpointFailure({}, 'no disk'), { error: 'checkpoint failed: no disk' });
  });

  test('a failed start: stopped on a stop, failed for good on a permanent error, retried otherwise', () => {
    const stopped = new AbortController();
    stopped.abort(new Error('stopped on request'));
    assert.equal(startFailure(new Error('anything'), stopped.signal), 'stopped');
    assert.equal(startFailure(new RestoreAbortedError('restore container', 'aborted'), live), 'stopped');
    assert.equal(startFailure(new PermanentJobError('no'), live), 'failed');
    assert.equal(startFailure(new NodeRuntimeError('build runtime spec', 'no command'), live), 'failed');
    assert.equal(startFailure(new NodeRuntimeError('start container', 'busy'), live), 'retry');
    assert.equal(startFailure(new RegistryError('manifest unknown', 'not-found'), live), 'failed');
    assert.equal(startFailure(new RegistryError('503', 'unavailable'), live), 'retry');
    assert.equal(startFailure(new Error('ECONNRESET'), live), 'retry');
  });
});
