import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeChangeFilter } from './node-change-filter';
import { digest, holding, nodeOf } from './testing/prepull-fixtures';

describe('NodeChangeFilter', () => {
  test('a heartbeat alone does not matter; a join, a cache change, a cordon or a departure does', () => {
    const filter = new NodeChangeFilter(6_000);
    const t0 = 1_000_000;
    assert.equal(filter.observe('n1', nodeOf('n1', {}, t0), t0), true, 'joined');
    assert.equal(filter.observe('n1', nodeOf('n1', {}, t0 + 2_000), t0 + 2_000), false, 'heartbeat');
    assert.equal(filter.observe('n1', nodeOf('n1', holding(digest('a')), t0 + 4_000), t0 + 4_000), true, 'cache');
    assert.equal(filter.observe('n1', nodeOf('n1', { ...holding(digest('a')), cordoned: true }, t0 + 5_000), t0 + 5_000), true, 'cordon');
    assert.equal(filter.observe('n1', undefined, t0 + 6_000), true, 'left');
    assert.equal(filter.observe('n1', undefined, t0 + 7_000), false);
  });

  test('a node heard again after a silence longer than the ready window matters', () => {
    const filter = new NodeChangeFilter(6_000);
    const t0 = 1_000_000;
    filter.observe('n1', nodeOf('n1', {}, t0), t0);
    assert.equal(filter.observe('n1', nodeOf('n1', {}, t0 + 10_000), t0 + 10_000), true);
  });

  test('reset forgets nodes that are gone', () => {
    const filter = new NodeChangeFilter(6_000);
    filter.reset([nodeOf('a', {}, 0), nodeOf('b', {}, 0)], 0);
    filter.reset([nodeOf('a', {}, 0)], 0);
    assert.equal(filter.observe('b', nodeOf('b', {}, 0), 0), true);
    assert.equal(filter.observe('a', nodeOf('a', {}, 0), 0), false);
  });
});
