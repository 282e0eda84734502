import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeState } from './scheduler-metrics';

test('a node is lost when marked so, else ready while its heartbeat is within the window', () => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  assert.equal(nodeState({ heartbeatAt: '2026-01-01T00:00:09Z' }, 3_000, now), 'ready');
  assert.equal(nodeState({ heartbeatAt: '2026-01-01T00:00:01Z' }, 3_000, now), 'not_ready');
  assert.equal(nodeState({ heartbeatAt: '2026-01-01T00:00:09Z', lostAt: '2026-01-01T00:00:09Z' }, 3_000, now), 'lost');
});
