import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canPullOn, isInFlight, isProtectedTarget, isReadyOn, matchesSelector, pullTargets, type PrepullNode } from './prepull-targets';
import { nodePrepullState, pinPrepullStatus } from './prepull-status';
import type { PinRecord } from './pin-repository';
import type { PullStatus } from './pull-repository';

const NOW = 1_000_000;
const D = `sha256:${'a'.repeat(64)}`;
const node = (id: string, over: Partial<PrepullNode> = {}): PrepullNode => ({
  id,
  labels: {},
  cordoned: false,
  heartbeatAt: new Date(NOW).toISOString(),
  cachedImages: [],
  ...over,
});
const pull = (n: string, state: PullStatus['state'], over: Partial<PullStatus> = {}): PullStatus => ({
  node: n,
  digest: D,
  pinned: `r.local/app@${D}`,
  state,
  bytesDone: 0,
  bytesTotal: 0,
  layersDone: 0,
  layersTotal: 0,
  attempts: 0,
  updatedAt: 'u',
  ...over,
});
const pin: PinRecord = {
  id: 'p',
  tenant: 't',
  requested: 'app',
  reference: 'r.local/app:latest',
  pinned: `r.local/app@${D}`,
  digest: D,
  nodeSelector: { zone: 'a' },
  createdAt: 'c',
  state: 'active',
};

describe('prepull targets', () => {
  test('selectors: every label must match; empty matches all', () => {
    assert.equal(matchesSelector({ zone: 'a', gpu: 'yes' }, { zone: 'a' }), true);
    assert.equal(matchesSelector({ zone: 'b' }, { zone: 'a' }), false);
    assert.equal(matchesSelector({}, {}), true);
  });

  test('pull targets are Ready, not lost, not cordoned, matching; protection ignores readiness and cordon', () => {
    const nodes = [
      node('ok', { labels: { zone: 'a' } }),
      node('other-zone', { labels: { zone: 'b' } }),
      node('cordoned', { labels: { zone: 'a' }, cordoned: true }),
      node('silent', { labels: { zone: 'a' }, heartbeatAt: new Date(NOW - 10_000).toISOString() }),
      node('lost', { labels: { zone: 'a' }, lostAt: 'x' }),
    ];
    assert.deepEqual(
      pullTargets(pin, nodes, 6_000, NOW).map((n) => n.id),
      ['ok'],
    );
    assert.deepEqual(
      nodes.filter((n) => isProtectedTarget(n, pin)).map((n) => n.id),
      ['ok', 'cordoned', 'silent'],
    );
    assert.equal(canPullOn(nodes[0]!, 6_000, NOW), true);
  });

  test('ready from the inventory or a ready pull; in flight while queued or pulling', () => {
    assert.equal(isReadyOn(node('n', { cachedImages: [{ digest: D, sizeBytes: 1, layers: [] }] }), D, undefined), true);
    assert.equal(isReadyOn(node('n'), D, { state: 'ready' }), true);
    assert.equal(isReadyOn(node('n'), D, { state: 'failed' }), false);
    assert.deepEqual(
      ['queued', 'pulling', 'ready', 'failed'].map((s) => isInFlight({ state: s as PullStatus['state'] })),
      [true, true, false, false],
    );
  });
});

describe('prepull status', () => {
  test('a held digest is ready whatever the pull record says; failed shows at least one attempt', () => {
    const held = node('n', { cachedImages: [{ digest: D, sizeBytes: 1, layers: [] }] });
    assert.deepEqual(nodePrepullState(held, D, pull('n', 'failed')), { node: 'n', state: 'ready' });
    assert.deepEqual(nodePrepullState(node('n'), D, pull('n', 'failed', { reason: '' })), {
      node: 'n',
      state: 'failed',
      reason: 'pull failed',
      attempts: 1,
      updatedAt: 'u',
    });
  });

  test('shows matching nodes that can pull or have something to say, sorted', () => {
    const nodes = [
      node('b', { labels: { zone: 'a' } }),
      node('a', { labels: { zone: 'a' }, cordoned: true }),
      node('c', { labels: { zone: 'a' }, cordoned: true }),
    ];
    const status = pinPrepullStatus(pin, nodes, new Map([['a', pull('a', 'pulling', { bytesDone: 3, bytesTotal: 9 })]]), 6_000, NOW);
    assert.deepEqual(
      status.nodes.map((n) => `${n.node}:${n.state}`),
      ['a:pulling', 'b:queued'],
    );
    assert.equal(status.ready, 0);
  });
});
