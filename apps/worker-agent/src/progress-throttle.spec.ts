import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProgressThrottle } from './progress-throttle';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ProgressThrottle', () => {
  test('writes the first value at once, then at most one per interval, always the newest, and the last on flush', async () => {
    const written: Array<{ value: number; at: number }> = [];
    const start = Date.now();
    const t = new ProgressThrottle<number>(async (value) => void written.push({ value, at: Date.now() - start }), 100, assert.fail);
    // 400 ms of a value every 2 ms: about 200 pushes.
    let n = 0;
    while (Date.now() - start < 400) {
      t.push(++n);
      await tick(2);
    }
    t.push(++n);
    await t.flush();
    assert.equal(written[0]!.value, 1, 'the first value goes out at once');
    assert.equal(written.at(-1)!.value, n, 'the last value is never lost');
    // 400 ms at 100 ms spacing: the first, about four timed writes, and the flush.
    assert.ok(written.length >= 4 && written.length <= 7, `${written.length} writes for ${n} pushes`);
    for (let i = 1; i < written.length - 1; i++) {
      assert.ok(written[i]!.at - written[i - 1]!.at >= 95, `writes ${i - 1} and ${i} are ${written[i]!.at - written[i - 1]!.at} ms apart`);
      assert.ok(written[i]!.value > written[i - 1]!.value, 'newest value each time');
    }
  });

  test('writes never overlap: a slow store delays the next write instead of stacking them', async () => {
    let active = 0;
    let most = 0;
    const values: number[] = [];
    const t = new ProgressThrottle<number>(
      async (value) => {
        active++;
        most = Math.max(most, active);
        await tick(30);
        values.push(value);
        active--;
      },
      5,
      assert.fail,
    );
    for (let i = 1; i <= 50; i++) {
      t.push(i);
      await tick(1);
    }
    await t.flush();
    assert.equal(most, 1);
    assert.equal(values.at(-1), 50);
  });

  test('a failed write is reported, not thrown, and later values still go out; pushes after flush are ignored', async () => {
    const errors: string[] = [];
    const values: number[] = [];
    let fail = true;
    const t = new ProgressThrottle<number>(
      async (value) => {
        if (fail) {
          fail = false;
          throw new Error('redis away');
        }
        values.push(value);
      },
      1,
      (e) => errors.push(e.message),
    );
    t.push(1);
    await tick(5);
    t.push(2);
    await t.flush();
    t.push(3);
    await tick(5);
    assert.deepEqual(errors, ['redis away']);
    assert.deepEqual(values, [2]);
  });

  test('flush with nothing pushed writes nothing', async () => {
    const t = new ProgressThrottle<number>(async () => assert.fail('no write expected'), 10, assert.fail);
    await t.flush();
  });
});
