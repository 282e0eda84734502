import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PodLocks } from './pod-locks';

describe('PodLocks', () => {
  test('work on one pod runs one at a time, in arrival order', async () => {
    const locks = new PodLocks();
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = locks.with('pod-a', async () => {
      events.push('start 1');
      await gate;
      events.push('end 1');
    });
    const second = locks.with('pod-a', async () => {
      events.push('start 2');
    });
    // Let every queued microtask run: the second task must still be waiting.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['start 1']);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['start 1', 'end 1', 'start 2']);
  });

  test('different pods do not wait for each other', async () => {
    const locks = new PodLocks();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = locks.with('pod-a', () => gate);
    const other = await locks.with('pod-b', async () => 'done');
    assert.equal(other, 'done');
    release();
    await slow;
  });

  test('a failure is returned to its caller and does not block the next one', async () => {
    const locks = new PodLocks();
    await assert.rejects(
      locks.with('pod-a', async () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await locks.with('pod-a', async () => 42), 42);
  });
});
