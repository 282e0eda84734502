import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PodRecord } from '@warmpod/domain';
import { ApiError } from '../http/api-error';
import { matches, podFilterFrom } from './list-query';

describe('podFilterFrom', () => {
  test('defaults to the newest 50 of any phase', () => {
    assert.deepEqual(podFilterFrom({}), { labels: [], limit: 50 });
    assert.deepEqual(podFilterFrom(undefined), { labels: [], limit: 50 });
  });
  test('reads phase, one or several labels, and limit', () => {
    assert.deepEqual(podFilterFrom({ phase: 'Running', label: 'app=web', limit: '5' }), {
      phase: 'Running',
      labels: [['app', 'web']],
      limit: 5,
    });
    assert.deepEqual(podFilterFrom({ label: ['app=web', 'tier=a=b'] }).labels, [
      ['app', 'web'],
      ['tier', 'a=b'],
    ]);
  });
  test('refuses an unknown phase, a bad label, a bad limit and unknown parameters', () => {
    for (const [query, path] of [
      [{ phase: 'Sleeping' }, 'query.phase'],
      [{ label: 'novalue' }, 'query.label'],
      [{ limit: '0' }, 'query.limit'],
      [{ limit: 'many' }, 'query.limit'],
      [{ colour: 'red' }, 'query.colour'],
    ] as const) {
      assert.throws(
        () => podFilterFrom(query),
        (e: unknown) => e instanceof ApiError && e.status === 400 && e.code === 'invalid_request' && e.details[0]?.path === path,
        JSON.stringify(query),
      );
    }
  });
});

describe('matches', () => {
  const pod = { phase: 'Running', labels: { app: 'web', tier: 'front' } } as unknown as PodRecord;
  test('needs the phase and every label', () => {
    assert.equal(matches(pod, { labels: [], limit: 1 }), true);
    assert.equal(matches(pod, { phase: 'Running', labels: [['app', 'web']], limit: 1 }), true);
    assert.equal(matches(pod, { phase: 'Pending', labels: [], limit: 1 }), false);
    assert.equal(
      matches(pod, {
        labels: [
          ['app', 'web'],
          ['tier', 'back'],
        ],
        limit: 1,
      }),
      false,
    );
  });
});
