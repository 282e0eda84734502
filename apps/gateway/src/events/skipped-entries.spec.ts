import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeenIds } from './skipped-entries';

test('SeenIds: true the first time only, within a bounded window (the oldest forgotten first)', () => {
  const seen = new SeenIds(2);
  assert.equal(seen.first('1-0'), true);
  assert.equal(seen.first('1-0'), false);
  assert.equal(seen.first('2-0'), true);
  assert.equal(seen.first('3-0'), true); // 1-0 forgotten
  assert.equal(seen.first('2-0'), false);
  assert.equal(seen.first('1-0'), true);
});
