import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, nextAttempt } from './reconnect-backoff';

describe('reconnect backoff', () => {
  test('backoff doubles, is capped, and jitters within 20 %', () => {
    const b = { initialMs: 100, maxMs: 1_000 };
    for (let i = 0; i < 50; i++) {
      const d0 = backoffDelay(0, b);
      const d3 = backoffDelay(3, b);
      const d9 = backoffDelay(40, b);
      assert.ok(d0 >= 80 && d0 <= 120, String(d0));
      assert.ok(d3 >= 640 && d3 <= 960, String(d3));
      assert.ok(d9 >= 800 && d9 <= 1_200, String(d9));
    }
  });

  test('the schedule without jitter: 100, 200, 400, 800, then the cap', () => {
    const b = { initialMs: 100, maxMs: 1_000 };
    const middle = () => 0.5;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, b, middle)),
      [100, 200, 400, 800, 1_000, 1_000],
    );
    assert.equal(
      backoffDelay(2, b, () => 0),
      320,
    );
  });

  test('an accepted session starts the schedule over; a failed one moves it on', () => {
    assert.equal(nextAttempt(4, true), 0);
    assert.equal(nextAttempt(4, false), 5);
    assert.equal(nextAttempt(0, false), 1);
  });
});
