import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { selectCheckpointsToDelete, type RetentionPolicy } from './checkpoint-retention';
import type { CheckpointState } from './checkpoint-state';

const NOW = Date.parse('2026-11-10T00:00:00.000Z');
const HOUR = 3_600_000;
const policy: RetentionPolicy = { keepPerKey: 2, maxAgeMs: 7 * 24 * HOUR, diskBudgetBytes: 10_000, quarantineAfter: 3 };

function ck(id: string, key: string, hoursAgo: number, sizeBytes = 1000, state: CheckpointState = 'available', restoreFailures = 0) {
  return { id, key, state, sizeBytes, restoreFailures, createdAt: new Date(NOW - hoursAgo * HOUR).toISOString() };
}

const ids = (d: ReturnType<typeof selectCheckpointsToDelete>): Record<string, string> =>
  Object.fromEntries(d.delete.map((x) => [x.id, x.reason]));

describe('selectCheckpointsToDelete', () => {
  test('nothing to do under every limit', () => {
    assert.deepEqual(selectCheckpointsToDelete([ck('a', 'k1', 1), ck('b', 'k2', 2)], policy, NOW), { delete: [], keptBytes: 2000 });
  });

  test('keeps the newest N per key', () => {
    const d = selectCheckpointsToDelete([ck('old', 'k1', 30), ck('new', 'k1', 1), ck('mid', 'k1', 10), ck('other', 'k2', 50)], policy, NOW);
    assert.deepEqual(ids(d), { old: 'superseded' });
    assert.equal(d.keptBytes, 3000);
  });

  test('deletes anything past max age, failed and quarantined checkpoints, and abandoned pending ones', () => {
    const d = selectCheckpointsToDelete(
      [
        ck('expired', 'k1', 8 * 24),
        ck('failed', 'k1', 1, 0, 'checkpoint_failed'),
        ck('quarantined', 'k2', 1, 1000, 'restore_failed', 3),
        ck('flaky', 'k2', 2, 1000, 'restore_failed', 1),
        ck('writing', 'k3', 1, 500, 'pending'),
        ck('abandoned', 'k3', 2, 500, 'pending'),
        ck('gone', 'k3', 1, 999_999, 'deleted'),
      ],
      { ...policy, pendingGraceMs: 1.5 * HOUR },
      NOW,
    );
    assert.deepEqual(ids(d), { expired: 'expired', failed: 'failed', quarantined: 'quarantined', abandoned: 'stale-pending' });
    assert.equal(d.keptBytes, 1500, 'flaky and writing are kept; deleted records hold nothing');
  });

  test('over the disk budget: restore_failed ones first, then the oldest; a pending one is never evicted', () => {
    const d = selectCheckpointsToDelete(
      [
        ck('a-new', 'k1', 1, 4000),
        ck('b-old', 'k2', 20, 4000),
        ck('c-flaky', 'k3', 2, 3000, 'restore_failed', 1),
        ck('d-mid', 'k4', 10, 3000),
        ck('e-writing', 'k5', 0, 5000, 'pending'),
      ],
      policy,
      NOW,
    );
    // 19000 held, budget 10000: c-flaky (restore failed) -> 16000, b-old -> 12000, d-mid -> 9000.
    assert.deepEqual(ids(d), { 'c-flaky': 'over-budget', 'b-old': 'over-budget', 'd-mid': 'over-budget' });
    assert.equal(d.keptBytes, 9000);
  });

  test('a budget that pending checkpoints alone exceed deletes every restorable one and reports what stays', () => {
    const d = selectCheckpointsToDelete([ck('a', 'k1', 1, 100), ck('p', 'k2', 0, 20_000, 'pending')], policy, NOW);
    assert.deepEqual(ids(d), { a: 'over-budget' });
    assert.equal(d.keptBytes, 20_000);
  });

  test('keepPerKey below 1 is a configuration error', () => {
    assert.throws(() => selectCheckpointsToDelete([], { ...policy, keepPerKey: 0 }, NOW), /keepPerKey must be at least 1/);
  });
});
