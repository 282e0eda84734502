import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planHints, type HintInputs } from './hint-plan';
import { digest, holding, lookup, nodeOf, pinned, pullOf } from './testing/prepull-fixtures';

const NOW = Date.now();
const D = digest('d');
const REF = pinned('app', D);

function inputs(over: Partial<HintInputs>): HintInputs {
  return {
    hints: [{ pinned: REF, since: NOW - 1_000 }],
    nodes: [],
    pulls: new Map(),
    inUse: new Map(),
    wantedByPins: new Set(),
    inflight: {},
    readyWindowMs: 6_000,
    retryAfterMs: 60_000,
    hintTtlMs: 3_600_000,
    now: NOW,
    ...over,
  };
}

describe('planHints', () => {
  test('pulls onto the least-loaded Ready node', () => {
    const nodes = [
      nodeOf('busy', { allocated: { cpu: 3, memoryMiB: 0, gpu: 0 } }, NOW),
      nodeOf('idle', {}, NOW),
      nodeOf('pulling', {}, NOW),
      nodeOf('cordoned', { cordoned: true }, NOW),
    ];
    const [d] = planHints(inputs({ nodes, inflight: { pulling: 1 } }));
    assert.deepEqual(d, { pinned: REF, digest: D, action: 'pull', node: 'idle' });
  });

  test('prefers the node a pod using the digest is already placed on', () => {
    const nodes = [nodeOf('a', {}, NOW), nodeOf('b', {}, NOW)];
    const [d] = planHints(inputs({ nodes, inUse: new Map([['b', new Set([D])]]) }));
    assert.equal(d!.action === 'pull' && d!.node, 'b');
  });

  test('keeps the node already chosen while it can pull', () => {
    const nodes = [nodeOf('a', {}, NOW), nodeOf('b', {}, NOW)];
    const [d] = planHints(inputs({ nodes, hints: [{ pinned: REF, since: NOW, node: 'b' }] }));
    assert.deepEqual(d, { pinned: REF, digest: D, action: 'pull', node: 'b', assigned: 'b' });
  });

  test('drops a hint once any node holds the digest, when expired, or when not pinned', () => {
    assert.deepEqual(planHints(inputs({ nodes: [nodeOf('a', holding(D), NOW)] }))[0], { pinned: REF, action: 'drop', why: 'held' });
    assert.deepEqual(planHints(inputs({ nodes: [nodeOf('a', {}, NOW)], pulls: lookup(pullOf('a', D, 'ready')) }))[0]!.action, 'drop');
    assert.deepEqual(planHints(inputs({ hints: [{ pinned: REF, since: NOW - 10_000 }], hintTtlMs: 5_000 }))[0], {
      pinned: REF,
      action: 'drop',
      why: 'expired',
    });
    assert.deepEqual(planHints(inputs({ hints: [{ pinned: 'app:latest', since: NOW }] }))[0], {
      pinned: 'app:latest',
      action: 'drop',
      why: 'invalid',
    });
  });

  test('waits while a pull is in flight, a pin pulls it anyway, or the node cools down', () => {
    const nodes = [nodeOf('a', {}, NOW)];
    assert.equal(planHints(inputs({ nodes, pulls: lookup(pullOf('a', D, 'pulling')) }))[0]!.action, 'wait');
    assert.equal(planHints(inputs({ nodes, wantedByPins: new Set([D]) }))[0]!.action, 'wait');
    const failedAt = NOW - 1_000;
    const cooling = planHints(
      inputs({ nodes, pulls: lookup(pullOf('a', D, 'failed', { updatedAt: new Date(failedAt).toISOString() })) }),
    )[0]!;
    assert.deepEqual(cooling, { pinned: REF, action: 'wait', retryAt: failedAt + 60_000 });
  });
});
