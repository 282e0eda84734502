import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { desiredPulls, protectedDigests } from './desired-state';
import { digest, nodeOf, pinOf } from './testing/prepull-fixtures';

const NOW = Date.now();
const WINDOW = 6_000;
const A = digest('a');
const B = digest('b');

describe('desiredPulls', () => {
  test('an empty selector targets every Ready node; a selector only matching ones', () => {
    const nodes = [nodeOf('n1', { labels: { zone: 'a' } }, NOW), nodeOf('n2', { labels: { zone: 'b' } }, NOW)];
    const wants = desiredPulls([pinOf('p1', A), pinOf('p2', B, { nodeSelector: { zone: 'b' } })], nodes, WINDOW, NOW);
    assert.deepEqual(wants.map((w) => `${w.node} ${w.digest}`).sort(), [`n1 ${A}`, `n2 ${A}`, `n2 ${B}`]);
  });

  test('lost, silent and cordoned nodes are not asked to pull', () => {
    const nodes = [
      nodeOf('lost', { lostAt: new Date(NOW).toISOString() }, NOW),
      nodeOf('silent', { heartbeatAt: new Date(NOW - WINDOW - 1).toISOString() }, NOW),
      nodeOf('cordoned', { cordoned: true }, NOW),
      nodeOf('ok', {}, NOW),
    ];
    assert.deepEqual(
      desiredPulls([pinOf('p1', A)], nodes, WINDOW, NOW).map((w) => w.node),
      ['ok'],
    );
  });

  test('two pins of one digest make one want, remembering the newest and oldest pin times', () => {
    const pins = [
      pinOf('p1', A, { createdAt: new Date(1_000).toISOString() }),
      pinOf('p2', A, { tenant: 't2', createdAt: new Date(5_000).toISOString() }),
    ];
    const wants = desiredPulls(pins, [nodeOf('n1', {}, NOW)], WINDOW, NOW);
    assert.equal(wants.length, 1);
    assert.equal(wants[0]!.pinnedAt, 5_000);
    assert.equal(wants[0]!.firstPinnedAt, 1_000);
  });
});

describe('protectedDigests', () => {
  test('active digests on every matching node, Ready or not; rotating digests only where kept; lost nodes get nothing', () => {
    const nodes = [
      nodeOf('n1', { labels: { gpu: 'yes' } }, NOW),
      nodeOf('n2', { heartbeatAt: new Date(0).toISOString() }, NOW),
      nodeOf('n3', { lostAt: new Date(NOW).toISOString() }, NOW),
    ];
    const byNode = protectedDigests(
      [pinOf('p1', A), pinOf('p2', B, { nodeSelector: { gpu: 'yes' } })],
      [{ digest: digest('c'), keepOn: ['n2'] }],
      nodes,
    );
    assert.deepEqual([...byNode.get('n1')!].sort(), [A, B].sort());
    assert.deepEqual([...byNode.get('n2')!].sort(), [A, digest('c')].sort());
    assert.deepEqual([...byNode.get('n3')!], []);
  });
});
