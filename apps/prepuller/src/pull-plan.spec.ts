import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PullWant } from './desired-state';
import { coolingUntil, planPulls } from './pull-plan';
import { digest, holding, lookup, nodeOf, pinned, pullOf } from './testing/prepull-fixtures';

const NOW = 1_000_000;
const A = digest('a');
const B = digest('b');
const want = (node: string, d: string, at = 1_000): PullWant => ({
  node,
  digest: d,
  pinned: pinned('app', d),
  pinnedAt: at,
  firstPinnedAt: at,
});
const T = { retryAfterMs: 60_000, inventoryLagMs: 6_000 };
const nodes = (...ns: ReturnType<typeof nodeOf>[]) => new Map(ns.map((n) => [n.id, n]));

describe('planPulls', () => {
  test('skips what is held, ready or in flight', () => {
    const plan = planPulls(
      [want('n1', A), want('n2', A), want('n3', A), want('n4', A), want('n5', A)],
      nodes(nodeOf('n1', holding(A)), nodeOf('n2'), nodeOf('n3'), nodeOf('n4'), nodeOf('n5')),
      lookup(pullOf('n2', A, 'ready', { updatedAt: new Date(NOW).toISOString() }), pullOf('n3', A, 'queued'), pullOf('n4', A, 'pulling')),
      T,
      NOW,
    );
    assert.deepEqual(
      plan.toClaim.map((w) => w.node),
      ['n5'],
    );
  });

  test('a failed pull waits for the cooldown and says when it ends', () => {
    const failedAt = NOW - 10_000;
    const plan = planPulls(
      [want('n1', A)],
      nodes(nodeOf('n1')),
      lookup(pullOf('n1', A, 'failed', { updatedAt: new Date(failedAt).toISOString() })),
      T,
      NOW,
    );
    assert.deepEqual(plan.toClaim, []);
    assert.equal(plan.retryAt, failedAt + 60_000);
    const later = planPulls(
      [want('n1', A)],
      nodes(nodeOf('n1')),
      lookup(pullOf('n1', A, 'failed', { updatedAt: new Date(failedAt).toISOString() })),
      T,
      failedAt + 60_000,
    );
    assert.equal(later.toClaim.length, 1);
  });

  test('a pin created after the failure allows a fresh try at once', () => {
    const failedAt = NOW - 10_000;
    const plan = planPulls(
      [want('n1', A, NOW - 5_000)],
      nodes(nodeOf('n1')),
      lookup(pullOf('n1', A, 'failed', { updatedAt: new Date(failedAt).toISOString() })),
      T,
      NOW,
    );
    assert.equal(plan.toClaim.length, 1);
    assert.equal(plan.retryAt, undefined);
  });

  test('round-robin across nodes, oldest pin first within a node', () => {
    const plan = planPulls(
      [want('n2', B, 2_000), want('n2', A, 1_000), want('n1', B, 2_000), want('n1', A, 1_000), want('n3', B, 2_000)],
      nodes(nodeOf('n1'), nodeOf('n2'), nodeOf('n3')),
      new Map(),
      T,
      NOW,
    );
    assert.deepEqual(
      plan.toClaim.map((w) => `${w.node}:${w.digest === A ? 'A' : 'B'}`),
      ['n1:A', 'n2:A', 'n3:B', 'n1:B', 'n2:B'],
    );
  });
});

describe('stale ready records', () => {
  test('a ready pull not in the inventory long after it ended is pulled again, its record dropped first', () => {
    const old = lookup(pullOf('n1', A, 'ready', { updatedAt: new Date(NOW - 10_000).toISOString() }));
    assert.deepEqual(
      planPulls([want('n1', A)], nodes(nodeOf('n1')), old, T, NOW).toClaim.map((w) => w.staleReady),
      [true],
    );
    const fresh = lookup(pullOf('n1', A, 'ready', { updatedAt: new Date(NOW - 1_000).toISOString() }));
    assert.deepEqual(planPulls([want('n1', A)], nodes(nodeOf('n1')), fresh, T, NOW).toClaim, [], 'the inventory may still be catching up');
  });
});

describe('coolingUntil', () => {
  test('only failed pulls cool down', () => {
    assert.equal(coolingUntil(pullOf('n', A, 'ready'), 0, 1_000, NOW), undefined);
    assert.equal(coolingUntil(undefined, 0, 1_000, NOW), undefined);
    assert.equal(coolingUntil(pullOf('n', A, 'failed', { updatedAt: new Date(NOW).toISOString() }), 0, 1_000, NOW), NOW + 1_000);
  });
});
