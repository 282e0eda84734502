import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podStartSegments } from './pod-start-segments';

const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

test('a cold start: placement, dispatch, pull, start and the total', () => {
  const segments = podStartSegments({ timeline: { Pending: t(0), Scheduled: t(20), Pulling: t(30), Starting: t(1030), Running: t(1230) } });
  assert.deepEqual(segments, [
    { segment: 'placement', seconds: 0.02 },
    { segment: 'dispatch', seconds: 0.01 },
    { segment: 'pull', seconds: 1 },
    { segment: 'start', seconds: 0.2 },
    { segment: 'total', seconds: 1.23 },
  ]);
});

test('a restore that worked has no start segment; a fallback restores, then starts', () => {
  const restored = podStartSegments({ timeline: { Pending: t(0), Scheduled: t(10), Restoring: t(15), Running: t(115) } });
  assert.deepEqual(
    restored.map((s) => s.segment),
    ['placement', 'dispatch', 'restore', 'total'],
  );
  const fallback = podStartSegments({ timeline: { Pending: t(0), Scheduled: t(10), Restoring: t(15), Starting: t(65), Running: t(165) } });
  assert.deepEqual(
    fallback.map((s) => [s.segment, s.seconds]),
    [
      ['placement', 0.01],
      ['dispatch', 0.005],
      ['restore', 0.05],
      ['start', 0.1],
      ['total', 0.165],
    ],
  );
});

test('not Running yet, bad timestamps and clocks going backwards give nothing wrong', () => {
  assert.deepEqual(podStartSegments({ timeline: { Pending: t(0), Scheduled: t(5) } }), []);
  assert.deepEqual(podStartSegments({ timeline: { Pending: 'not a date', Running: t(5) } }), []);
  assert.deepEqual(podStartSegments({ timeline: { Pending: t(100), Scheduled: t(50), Running: t(200) } }), [
    { segment: 'dispatch', seconds: 0.15 },
    { segment: 'total', seconds: 0.1 },
  ]);
});
