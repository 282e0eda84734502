import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  balancedAllocationScore,
  IMAGE_LOCALITY_MAX_PER_CONTAINER,
  IMAGE_LOCALITY_MIN,
  imageLocalityScore,
  leastAllocatedScore,
  MIB,
  NODE_STATUS_MAX_IMAGES,
} from './image-locality';
import { PlacementIndex } from './placement-index';
import type { CachedImage, PlacementNode, PodPlacementRequest } from './types';

const img = (name: string, sizeBytes: number, layers = [{ digest: `sha256:l-${name}`, sizeBytes }]): CachedImage => ({
  digest: `sha256:i-${name}`,
  sizeBytes,
  layers,
});

function node(id: string, images: CachedImage[] = [], over: Partial<PlacementNode> = {}): PlacementNode {
  return {
    id,
    ready: true,
    cordoned: false,
    labels: {},
    capacity: { cpu: 10, memoryMiB: 10240, gpu: 0 },
    allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
    images,
    checkpointKeys: [],
    ...over,
  };
}

const request = (image: CachedImage, over: Partial<PodPlacementRequest> = {}): PodPlacementRequest => ({
  digest: image.digest,
  layers: image.layers,
  resources: { cpu: 1, memoryMiB: 1024, gpu: 0 },
  nodeSelector: {},
  ...over,
});

describe('ImageLocality score (kube-scheduler)', () => {
  test('size x spread, clamped to [23 MiB, 1000 MiB], mapped to 0-100', () => {
    assert.equal(imageLocalityScore([{ sizeBytes: 20 * MIB, nodesListing: 10 }], 10), 0, 'below the floor');
    assert.equal(imageLocalityScore([{ sizeBytes: 1000 * MIB, nodesListing: 10 }], 10), 100);
    assert.equal(imageLocalityScore([{ sizeBytes: 20_000 * MIB, nodesListing: 10 }], 10), 100, 'a 20 GB image looks like 1 GB');
    assert.equal(imageLocalityScore([{ sizeBytes: 2_000 * MIB, nodesListing: 5 }], 10), 100, 'even on half the nodes');
    const mid = 23 * MIB + (IMAGE_LOCALITY_MAX_PER_CONTAINER - IMAGE_LOCALITY_MIN) / 2;
    assert.equal(imageLocalityScore([{ sizeBytes: mid, nodesListing: 1 }], 1), 50);
    // Spread scales the size down: 800 MiB on 1 node in 4 counts as 200 MiB.
    assert.equal(imageLocalityScore([{ sizeBytes: 800 * MIB, nodesListing: 1 }], 4), Math.trunc((100 * (200 - 23)) / (1000 - 23)));
  });

  test('LeastAllocated and BalancedAllocation', () => {
    const cap = { cpu: 10, memoryMiB: 1000, gpu: 0 };
    assert.equal(leastAllocatedScore(cap, { cpu: 5, memoryMiB: 250, gpu: 0 }), Math.trunc((50 + 75) / 2));
    assert.equal(leastAllocatedScore(cap, { cpu: 11, memoryMiB: 0, gpu: 0 }), 50);
    assert.equal(balancedAllocationScore(cap, { cpu: 5, memoryMiB: 500, gpu: 0 }), 100);
    assert.equal(balancedAllocationScore(cap, { cpu: 10, memoryMiB: 0, gpu: 0 }), 50);
  });
});

describe('imageLocality strategy in the index', () => {
  test('only the 50 largest images of a node are visible to it', () => {
    const big = Array.from({ length: NODE_STATUS_MAX_IMAGES }, (_, i) => img(`big-${i}`, (2000 + i) * MIB));
    const target = img('target', 900 * MIB);
    const build = (nodeStatusView: boolean) => {
      const index = new PlacementIndex({ nodeStatusView });
      index.upsertNode(node('holds-as-51st', [...big, target]));
      index.upsertNode(node('holds-in-top-50', [target]));
      index.upsertNode(node('empty'));
      return index;
    };
    const index = build(false);
    const plan = index.plan(request(target), { strategy: 'imageLocality' });
    assert.deepEqual(build(true).plan(request(target), { strategy: 'imageLocality' }), plan, 'eager and lazy status views agree');
    assert.equal(plan.candidates[0].node, 'holds-in-top-50');
    // The 51st image earns nothing: the node ties with the empty one (LeastAllocated and Balanced equal).
    const il = (name: string) => plan.candidates.find((c) => c.node === name)!.why.match(/ImageLocality (\d+)/)![1];
    assert.equal(il('holds-as-51st'), '0');
    assert.equal(il('empty'), '0');
    // Spread counts listing nodes only: 1 of 3, so 900 MiB counts as 300 MiB.
    assert.equal(il('holds-in-top-50'), String(imageLocalityScore([{ sizeBytes: target.sizeBytes, nodesListing: 1 }], 3)));
    // Drop a big image: the target enters the node's status list.
    index.removeImage('holds-as-51st', big[0].digest);
    const after = index.plan(request(target), { strategy: 'imageLocality' });
    assert.match(after.candidates.find((c) => c.node === 'holds-as-51st')!.why, /ImageLocality [1-9]\d* \(image in node status\)/);
  });

  test('shared layers earn nothing; bytes to fetch are still reported', () => {
    const base = { digest: 'sha256:l-base', sizeBytes: 900 * MIB };
    const app = img('app', 950 * MIB, [base, { digest: 'sha256:l-app', sizeBytes: 50 * MIB }]);
    const sibling = img('sibling', 950 * MIB, [base, { digest: 'sha256:l-sib', sizeBytes: 50 * MIB }]);
    const index = new PlacementIndex();
    index.upsertNode(node('shares-base', [sibling], { allocated: { cpu: 5, memoryMiB: 5120, gpu: 0 } }));
    index.upsertNode(node('empty'));
    const kube = index.plan(request(app), { strategy: 'imageLocality' });
    assert.deepEqual(
      kube.candidates.map((c) => [c.node, c.bytesToFetch]),
      [
        ['empty', 950 * MIB],
        ['shares-base', 50 * MIB],
      ],
    );
    assert.equal(index.plan(request(app)).candidates[0].node, 'shares-base', 'warmpod counts the shared base');
  });

  test('ties are broken at random, reproducibly for a seed', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => node(`n-${i}`));
    const firsts = (seed: number) => {
      const index = new PlacementIndex({ seed });
      for (const n of nodes) index.upsertNode(n);
      return Array.from({ length: 50 }, () => index.plan(request(img('x', 100 * MIB)), { strategy: 'imageLocality' }).candidates[0].node);
    };
    assert.deepEqual(firsts(7), firsts(7));
    assert.ok(new Set(firsts(7)).size > 5, 'equal nodes share the picks');
  });
});

describe('randomFit strategy', () => {
  test('picks only feasible nodes, all of them over time, reproducibly', () => {
    const index = new PlacementIndex({ seed: 3 });
    for (let i = 0; i < 10; i++) index.upsertNode(node(`n-${i}`, [], { ready: i !== 0, cordoned: i === 1 }));
    const picks = Array.from({ length: 400 }, () => index.plan(request(img('x', 1)), { strategy: 'randomFit', limit: 3 }));
    const seen = new Map<string, number>();
    for (const plan of picks) {
      assert.equal(new Set(plan.candidates.map((c) => c.node)).size, 3);
      const first = plan.candidates[0].node;
      seen.set(first, (seen.get(first) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['n-2', 'n-3', 'n-4', 'n-5', 'n-6', 'n-7', 'n-8', 'n-9']);
    for (const count of seen.values()) assert.ok(count > 20 && count < 80, `roughly uniform: ${count} of 400 over 8 nodes`);
  });
});

describe('imageLocality scan', () => {
  test('the inlined scan scores like the exported scorers', () => {
    const index = new PlacementIndex({ seed: 11 });
    const target = img('t', 600 * MIB);
    for (let i = 0; i < 40; i++) {
      index.upsertNode(
        node(`n-${i}`, i % 3 === 0 ? [target] : [], {
          capacity: { cpu: 4 + (i % 5) * 8, memoryMiB: 4096 * (1 + (i % 7)), gpu: 0 },
          allocated: { cpu: (i % 4) * 0.75, memoryMiB: 512 * (i % 6), gpu: 0 },
        }),
      );
    }
    const plan = index.plan(request(target), { strategy: 'imageLocality', limit: 40 });
    assert.equal(plan.candidates.length, 40);
    for (const c of plan.candidates) {
      const [il, la, ba] = [...c.why.matchAll(/(ImageLocality|LeastAllocated|BalancedAllocation) (\d+)/g)].map((m) => Number(m[2]));
      assert.equal(c.score, il! + la! + ba!, c.why);
    }
    const scores = plan.candidates.map((c) => c.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
  });
});
