import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EarlyLookups } from './early-lookups';

describe('EarlyLookups', () => {
  test('a started lookup is taken once; a second start while it is pending does not look up again', async () => {
    const early = new EarlyLookups<string>();
    let calls = 0;
    early.start('a', async () => `a${++calls}`);
    early.start('a', async () => `a${++calls}`);
    assert.equal(await early.take('a'), 'a1');
    assert.equal(early.take('a'), undefined);
    assert.equal(calls, 1);
  });

  test('a failed lookup fails where it is taken, and is not left unhandled before that', async () => {
    const early = new EarlyLookups<string>();
    early.start('b', async () => {
      throw new Error('registry away');
    });
    await new Promise((r) => setImmediate(r));
    await assert.rejects(early.take('b')!, /registry away/);
  });

  test('a lookup never taken is dropped after the keep time', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const early = new EarlyLookups<string>(1_000);
    early.start('c', async () => 'c');
    t.mock.timers.tick(999);
    early.start('d', async () => 'd');
    t.mock.timers.tick(1);
    assert.equal(early.take('c'), undefined);
    assert.ok(early.take('d'));
  });
});
