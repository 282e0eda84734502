import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeRecord } from '@warmpod/store';
import { missingBytes, spreadFirstCopies } from './pull-spread';
import { digest, holding, lookup, nodeOf, pullOf } from './testing/prepull-fixtures';

const A = digest('a');
const B = digest('b');
const nodes = (...ns: ReturnType<typeof nodeOf>[]) => new Map(ns.map((n) => [n.id, n]));
const want = (node: string, d: string) => ({ node, digest: d });
const S = { seeds: 1, fanout: 2, directBytes: 0 };
const MiB = 1024 * 1024;
/** An image of a big shared base layer and a small top layer (plus 1 kB of config). */
const image = (top: string, topBytes: number) => ({
  sizeBytes: 100 * MiB + topBytes + 1_000,
  layers: [
    { digest: digest('1'), sizeBytes: 100 * MiB },
    { digest: digest(top), sizeBytes: topBytes },
  ],
});
/** A node holding the previous build: the same base layer under another top. */
const withPrevious = (): Partial<NodeRecord> => ({
  cachedImages: [{ digest: B, sizeBytes: 100 * MiB, layers: [image('7', 10).layers[0]!, image('7', 10).layers[1]!] }],
});

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

  test('a node lacking only a small top layer of an image it mostly holds pulls at once, without waiting for a seed', () => {
    const ns = nodes(nodeOf('n1', withPrevious()), nodeOf('n2', withPrevious()), nodeOf('n3', withPrevious()), nodeOf('n4'));
    const all = ['n1', 'n2', 'n3', 'n4'].map((n) => want(n, A));
    const images = new Map([[A, image('9', 2 * MiB)]]);
    // n4 holds nothing of it: it is spread as before (here the seed, the one room while nobody holds the image).
    assert.deepEqual(spreadFirstCopies(all, ns, lookup(), { ...S, directBytes: 4 * MiB }, images), all);
    // While a direct pull is in flight the cold node waits; a top layer bigger than the limit, or a limit of 0, spreads as before.
    assert.deepEqual(
      spreadFirstCopies([want('n4', A)], ns, lookup(pullOf('n1', A, 'pulling')), { ...S, directBytes: 4 * MiB }, images),
      [],
    );
    const bigTop = new Map([[A, image('9', 5 * MiB)]]);
    assert.deepEqual(spreadFirstCopies(all, ns, lookup(), { ...S, directBytes: 4 * MiB }, bigTop), [want('n1', A)]);
    assert.deepEqual(spreadFirstCopies(all, ns, lookup(), S, images), [want('n1', A)]);
    // Layers not recorded: no exception to the spread.
    assert.deepEqual(spreadFirstCopies(all, ns, lookup(), { ...S, directBytes: 4 * MiB }), [want('n1', A)]);
  });
});

describe('missingBytes', () => {
  test('the layers no cached image of the node has, plus the config; undefined when the node holds none of them', () => {
    assert.equal(missingBytes(nodeOf('n1', withPrevious()), image('9', 2 * MiB)), 2 * MiB + 1_000);
    assert.equal(missingBytes(nodeOf('n1', withPrevious()), image('7', 10)), 1_000);
    assert.equal(missingBytes(nodeOf('n1'), image('9', 2 * MiB)), undefined);
    assert.equal(missingBytes(nodeOf('n1', withPrevious()), undefined), undefined);
  });
});
