import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { spreadFirstCopies } from './pull-spread';
import { digest, holding, lookup, nodeOf, pullOf } from './testing/prepull-fixtures';

const A = digest('a');
const B = digest('b');
const nodes = (...ns: ReturnType<typeof nodeOf>[]) => new Map(ns.map((n) => [n.id, n]));
const want = (node: string, d: string) => ({ node, digest: d });
const S = { seeds: 1, fanout: 2 };

describe('spreadFirstCopies', () => {
  test('a digest no node holds starts on one seed node only', () => {
    const picked = spreadFirstCopies(
      [want('n1', A), want('n2', A), want('n3', A), want('n4', A)],
      nodes(nodeOf('n1'), nodeOf('n2'), nodeOf('n3'), nodeOf('n4')),
      lookup(),
      S,
    );
    assert.deepEqual(picked, [want('n1', A)]);
  });

  test('while the seed pulls, nothing more of that digest starts; other digests seed on their own', () => {
    const picked = spreadFirstCopies(
      [want('n2', A), want('n3', A), want('n2', B)],
      nodes(nodeOf('n1'), nodeOf('n2'), nodeOf('n3')),
      lookup(pullOf('n1', A, 'pulling')),
      S,
    );
    assert.deepEqual(picked, [want('n2', B)]);
  });

  test('each holder (inventory or a ready pull) feeds `fanout` pulls, minus those in flight', () => {
    const ns = nodes(nodeOf('n1', holding(A)), nodeOf('n2'), nodeOf('n3'), nodeOf('n4'), nodeOf('n5'), nodeOf('n6'), nodeOf('n7'));
    const rest = ['n3', 'n4', 'n5', 'n6', 'n7'].map((n) => want(n, A));
    assert.deepEqual(spreadFirstCopies(rest, ns, lookup(pullOf('n2', A, 'ready')), S), rest.slice(0, 4));
    assert.deepEqual(spreadFirstCopies(rest, ns, lookup(pullOf('n2', A, 'queued')), S), rest.slice(0, 1));
  });

  test('a seed that has fetched every blob (still unpacking) already feeds others', () => {
    const ns = nodes(nodeOf('n1'), nodeOf('n2'), nodeOf('n3'), nodeOf('n4'));
    const rest = ['n2', 'n3', 'n4'].map((n) => want(n, A));
    const fetching = pullOf('n1', A, 'pulling', { bytesDone: 50, bytesTotal: 100 });
    const unpacking = pullOf('n1', A, 'pulling', { bytesDone: 100, bytesTotal: 100 });
    assert.deepEqual(spreadFirstCopies(rest, ns, lookup(fetching), S), []);
    assert.deepEqual(spreadFirstCopies(rest, ns, lookup(unpacking), S), rest.slice(0, 2));
  });
});
