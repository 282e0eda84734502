import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rotation, type RotationInputs } from './rotation';
import { digest, holding, lookup, nodeOf, pinOf, pullOf } from './testing/prepull-fixtures';

const NOW = Date.now();
const OLD = digest('0');
const NEW = digest('1');

function inputs(over: Partial<RotationInputs>): RotationInputs {
  const old = pinOf('old', OLD, { state: 'superseded', supersededBy: 'new' });
  const fresh = pinOf('new', NEW, { supersedes: 'old', createdAt: new Date(2_000).toISOString() });
  return { superseded: [old], active: [fresh], nodes: [], pulls: new Map(), inUse: new Map(), readyWindowMs: 6_000, now: NOW, ...over };
}

describe('rotation', () => {
  test('the old digest stays on a node until the new one is ready there', () => {
    const nodes = [nodeOf('n1', holding(OLD, NEW), NOW), nodeOf('n2', holding(OLD), NOW)];
    const [v] = rotation(inputs({ nodes }));
    assert.equal(v!.done, false);
    assert.deepEqual(v!.keepOn, ['n2']);
    assert.equal(v!.successor?.id, 'new');
  });

  test('a pull that ended ready counts before the inventory says so', () => {
    const nodes = [nodeOf('n1', holding(OLD), NOW)];
    const [v] = rotation(inputs({ nodes, pulls: lookup(pullOf('n1', NEW, 'ready')) }));
    assert.equal(v!.done, true);
    assert.deepEqual(v!.keepOn, []);
  });

  test('a pod still using the old digest keeps it, even with the new one ready', () => {
    const nodes = [nodeOf('n1', holding(OLD, NEW), NOW), nodeOf('n2', holding(OLD, NEW), NOW)];
    const [v] = rotation(inputs({ nodes, inUse: new Map([['n2', new Set([OLD])]]) }));
    assert.equal(v!.done, false);
    assert.deepEqual(v!.keepOn, ['n2']);
  });

  test('nodes that are not Ready do not hold rotation up; lost nodes neither', () => {
    const nodes = [
      nodeOf('n1', holding(OLD, NEW), NOW),
      nodeOf('silent', { ...holding(OLD), heartbeatAt: new Date(0).toISOString() }, NOW),
      nodeOf('lost', { ...holding(OLD), lostAt: new Date(NOW).toISOString() }, NOW),
    ];
    assert.equal(rotation(inputs({ nodes }))[0]!.done, true);
  });

  test('a chain of re-pins rotates every old pin towards the one active pin', () => {
    const MID = digest('5');
    const first = pinOf('first', OLD, { state: 'superseded', supersededBy: 'mid' });
    const mid = pinOf('mid', MID, { state: 'superseded', supersededBy: 'last' });
    const last = pinOf('last', NEW);
    const nodes = [nodeOf('n1', holding(OLD, MID), NOW)];
    const verdicts = rotation(inputs({ superseded: [first, mid], active: [last], nodes }));
    assert.deepEqual(
      verdicts.map((v) => [v.pin.id, v.successor?.id, v.done]),
      [
        ['first', 'last', false],
        ['mid', 'last', false],
      ],
    );
    const after = rotation(inputs({ superseded: [first, mid], active: [last], nodes: [nodeOf('n1', holding(OLD, MID, NEW), NOW)] }));
    assert.ok(after.every((v) => v.done));
  });

  test('a superseded pin whose reference was unpinned is done at once', () => {
    const [v] = rotation(inputs({ active: [], nodes: [nodeOf('n1', holding(OLD), NOW)] }));
    assert.equal(v!.done, true);
    assert.equal(v!.successor, undefined);
  });

  test('where the successor does not target a node, only pod use keeps the old digest there', () => {
    const old = pinOf('old', OLD, { state: 'superseded', supersededBy: 'new' });
    const fresh = pinOf('new', NEW, { nodeSelector: { pool: 'gpu' } });
    const nodes = [nodeOf('cpu', holding(OLD), NOW), nodeOf('gpu', { ...holding(NEW), labels: { pool: 'gpu' } }, NOW)];
    assert.equal(rotation(inputs({ superseded: [old], active: [fresh], nodes }))[0]!.done, true);
    const busy = rotation(inputs({ superseded: [old], active: [fresh], nodes, inUse: new Map([['cpu', new Set([OLD])]]) }))[0]!;
    assert.equal(busy.done, false);
    assert.deepEqual(busy.keepOn, ['cpu']);
  });
});
