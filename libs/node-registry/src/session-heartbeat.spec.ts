import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionHeartbeat } from './session-heartbeat';

describe('session heartbeat', () => {
  test('no heartbeat before the full inventory went out', () => {
    const h = new SessionHeartbeat(1_000, 0);
    assert.deepEqual(h.due(1_000, false), { kind: 'quiet' });
    assert.deepEqual(h.due(1_000, true), { kind: 'beat' });
  });

  test('a report written within half an interval stands in for the heartbeat', () => {
    const h = new SessionHeartbeat(1_000, 0);
    h.wrote(600);
    assert.deepEqual(h.due(1_000, true), { kind: 'quiet' });
    assert.deepEqual(h.due(1_100, true), { kind: 'beat' });
  });

  test('a scheduler silent for three intervals plus slack is taken for gone', () => {
    const h = new SessionHeartbeat(1_000, 0);
    assert.notEqual(h.due(5_000, true).kind, 'reconnect');
    assert.deepEqual(h.due(5_001, true), { kind: 'reconnect', silentMs: 5_001 });
    h.heard(5_000);
    assert.equal(h.due(5_001, true).kind, 'beat');
  });
});
