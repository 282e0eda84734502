import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyCheckpointEvent,
  canTransitionCheckpoint,
  CHECKPOINT_STATES,
  isRestorable,
  type CheckpointRecord,
  type CheckpointState,
} from './checkpoint-state';

function record(state: CheckpointState, restoreFailures = 0): CheckpointRecord {
  return {
    id: 'ckpt-1',
    key: `ck1-${'0'.repeat(64)}`,
    specKey: `cs1-${'0'.repeat(64)}`,
    runtime: `rt1-${'0'.repeat(64)}`,
    tenant: 'acme',
    node: 'node-a',
    pod: 'pod-1',
    digest: `sha256:${'a'.repeat(64)}`,
    state,
    sizeBytes: 0,
    createdAt: '2026-11-01T00:00:00.000Z',
    restoreFailures,
  };
}

describe('checkpoint states', () => {
  test('the transition table, state by state', () => {
    const allowed: Record<CheckpointState, CheckpointState[]> = {
      pending: ['available', 'checkpoint_failed', 'deleted'],
      available: ['available', 'restore_failed', 'deleted'],
      checkpoint_failed: ['deleted'],
      restore_failed: ['available', 'restore_failed', 'deleted'],
      deleted: [],
    };
    for (const from of CHECKPOINT_STATES) {
      for (const to of CHECKPOINT_STATES) {
        assert.equal(canTransitionCheckpoint(from, to), allowed[from].includes(to), `${from} -> ${to}`);
      }
    }
  });

  test('a checkpoint taken becomes available with its size; a failed one keeps its reason', () => {
    const done = applyCheckpointEvent(record('pending'), { type: 'checkpointed', sizeBytes: 4096 });
    assert.equal(done.applied, true);
    assert.deepEqual(done.record, { ...record('available'), sizeBytes: 4096 });
    const failed = applyCheckpointEvent(record('pending'), { type: 'checkpoint-failed', reason: 'condition not met within 60 s' });
    assert.deepEqual(failed.applied && failed.record, { ...record('checkpoint_failed'), reason: 'condition not met within 60 s' });
  });

  test('restore failures count up and quarantine after k; a quarantined checkpoint is not restorable and can only be deleted', () => {
    let r = record('available');
    for (let i = 1; i <= 3; i++) {
      const result = applyCheckpointEvent(r, { type: 'restore-failed', reason: `failure ${i}` }, 3);
      assert.equal(result.applied, true);
      r = result.record;
      assert.equal(r.state, 'restore_failed');
      assert.equal(r.restoreFailures, i);
      assert.equal(r.reason, `failure ${i}`);
      assert.equal(result.applied && result.quarantined, i === 3);
      assert.equal(isRestorable(r, 3), i < 3);
    }
    const again = applyCheckpointEvent(r, { type: 'restored' }, 3);
    assert.deepEqual(again, { applied: false, record: r, why: 'the checkpoint is quarantined after 3 failed restores' });
    assert.equal(applyCheckpointEvent(r, { type: 'restore-failed', reason: 'x' }, 3).applied, false);
    const gone = applyCheckpointEvent(r, { type: 'deleted', reason: 'quarantined' }, 3);
    assert.equal(gone.applied && gone.record.state, 'deleted');
  });

  test('a successful restore after a failure makes it available again and keeps the count', () => {
    const result = applyCheckpointEvent(record('restore_failed', 1), { type: 'restored' }, 3);
    assert.equal(result.applied, true);
    assert.equal(result.record.state, 'available');
    assert.equal(result.record.restoreFailures, 1);
    assert.equal(isRestorable(result.record, 3), true);
  });

  test('refused moves say why and leave the record as it was', () => {
    const pending = record('pending');
    assert.deepEqual(applyCheckpointEvent(pending, { type: 'restore-failed', reason: 'x' }), {
      applied: false,
      record: pending,
      why: 'a pending checkpoint cannot become restore_failed',
    });
    assert.equal(applyCheckpointEvent(record('deleted'), { type: 'checkpointed', sizeBytes: 1 }).applied, false);
    assert.equal(applyCheckpointEvent(record('checkpoint_failed'), { type: 'restored' }).applied, false);
  });

  test('only available and non-quarantined restore_failed checkpoints are restorable', () => {
    assert.deepEqual(
      CHECKPOINT_STATES.filter((s) => isRestorable(record(s))),
      ['available', 'restore_failed'],
    );
  });
});
