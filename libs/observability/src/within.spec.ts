import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messageOf } from './errors';
import { settledWithin, TimeoutError, within } from './within';

const never = new Promise<never>(() => undefined);

describe('within', () => {
  test('passes a value through and fails with the thing waited for when time runs out', async () => {
    assert.equal(await within(Promise.resolve(7), 50, 'seven'), 7);
    await assert.rejects(within(never, 10, 'the answer'), (e: unknown) => e instanceof TimeoutError && /the answer/.test(e.message));
  });

  test('a failure of the work is its own, not a timeout', async () => {
    await assert.rejects(within(Promise.reject(new Error('boom')), 50, 'x'), /^Error: boom$/);
  });

  test('settledWithin answers false on time-out and rethrows other failures', async () => {
    assert.equal(await settledWithin(Promise.resolve(), 50), true);
    assert.equal(await settledWithin(never, 10), false);
    await assert.rejects(settledWithin(Promise.reject(new Error('boom')), 50), /boom/);
  });
});

describe('messageOf', () => {
  test('an Error gives its message, anything else its text', () => {
    assert.equal(messageOf(new Error('gone')), 'gone');
    assert.equal(messageOf('plain'), 'plain');
    assert.equal(messageOf(42), '42');
  });
});
