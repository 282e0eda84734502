import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runtimeKey, runtimeKeyOfCapabilities } from '../checkpoint/checkpoint-key';
import { PlacementIndex } from './placement-index';
import type { PlacementNode, PodPlacementRequest } from './types';
import { placementNode } from './testing/placement-node';
import { warmScore } from './warm-ranking';

const MB = 1_000_000;
const APP = { digest: 'sha256:image-app', sizeBytes: 300 * MB, layers: [{ digest: 'sha256:layer-app', sizeBytes: 300 * MB }] };
const SPEC_KEY = 'cs1-spec';
const RT_A = 'rt1-a';
const RT_B = 'rt1-b';

/** A node that can restore checkpoints. */
const node = (id: string, over: Partial<PlacementNode> = {}): PlacementNode =>
  placementNode(id, { capabilities: ['criu-restore'], ...over });

function request(over: Partial<PodPlacementRequest> = {}): PodPlacementRequest {
  return {
    digest: APP.digest,
    layers: APP.layers,
    resources: { cpu: 1, memoryMiB: 1024, gpu: 0 },
    nodeSelector: {},
    checkpointKey: SPEC_KEY,
    requireCapability: 'criu-restore',
    fetchableCheckpoints: [{ runtime: RT_A, sizeBytes: 50 * MB }],
    ...over,
  };
}

function indexOf(...nodes: PlacementNode[]): PlacementIndex {
  const index = new PlacementIndex();
  for (const n of nodes) index.upsertNode(n);
  return index;
}

describe('placement with checkpoints in the registry', () => {
  test('checkpoint on the node > same runtime that must fetch it > digest in cache > the rest', () => {
    const index = indexOf(
      node('cold', { runtimeKey: RT_A, allocated: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
      node('digest', { runtimeKey: RT_B, images: [APP] }),
      node('fetch', { runtimeKey: RT_A, images: [APP], allocated: { cpu: 6, memoryMiB: 8000, gpu: 0 } }),
      node('local', { runtimeKey: RT_A, checkpointKeys: [SPEC_KEY], allocated: { cpu: 7, memoryMiB: 15000, gpu: 0 } }),
    );
    const plan = index.plan(request()).candidates;
    assert.deepEqual(
      plan.map((c) => c.node),
      ['local', 'fetch', 'cold', 'digest'],
    );
    assert.match(plan[0]!.why, /compatible checkpoint on the node/);
    assert.match(plan[1]!.why, /compatible checkpoint in the registry \(fetch 50 MB, restore\), pinned digest in cache/);
    assert.equal(plan[1]!.checkpointBytesToFetch, 50 * MB);
    assert.equal(plan[1]!.bytesToFetch, 0, 'image bytes stay image bytes');
    assert.equal(plan[0]!.checkpointBytesToFetch, undefined, 'nothing to fetch where the checkpoint is');
  });

  test('among nodes that must fetch, fewest bytes (checkpoint and image together) first', () => {
    const index = indexOf(node('needs-image', { runtimeKey: RT_A }), node('has-image', { runtimeKey: RT_A, images: [APP] }));
    assert.deepEqual(
      index.plan(request()).candidates.map((c) => c.node),
      ['has-image', 'needs-image'],
    );
    // Two runtimes with a checkpoint each: the smaller one's nodes come first.
    const two = indexOf(node('a', { runtimeKey: RT_A }), node('b', { runtimeKey: RT_B }));
    const fetchable = [
      { runtime: RT_A, sizeBytes: 80 * MB },
      { runtime: RT_B, sizeBytes: 10 * MB },
    ];
    assert.deepEqual(
      two.plan(request({ fetchableCheckpoints: fetchable })).candidates.map((c) => c.node),
      ['b', 'a'],
    );
  });

  test('a node of another runtime (or none) never counts as able to fetch', () => {
    const index = indexOf(node('other', { runtimeKey: RT_B }), node('none'));
    for (const c of index.plan(request()).candidates) {
      assert.equal(c.checkpointBytesToFetch, undefined, c.node);
      assert.doesNotMatch(c.why, /checkpoint/);
    }
    // The runtime follows the node's record: an upgraded CRIU leaves the set.
    const moving = indexOf(node('n', { runtimeKey: RT_A }));
    assert.match(moving.plan(request()).candidates[0]!.why, /in the registry/);
    moving.upsertNode(node('n', { runtimeKey: RT_B }));
    assert.doesNotMatch(moving.plan(request()).candidates[0]!.why, /in the registry/);
    moving.removeNode('n');
    moving.upsertNode(node('m', { runtimeKey: RT_A }));
    assert.deepEqual(
      moving.plan(request()).candidates.map((c) => c.node),
      ['m'],
    );
  });

  test('the fetch tier sits between the checkpoint tier and the digest tier', () => {
    assert.ok(warmScore(true, false, 20e9, 0) > warmScore(false, true, 0, 1, true));
    assert.ok(warmScore(false, false, 20e9, 0, true) > warmScore(false, true, 0, 1));
    assert.ok(warmScore(false, false, 1024, 0, true) > warmScore(false, false, 2048, 1, true));
    assert.ok(Number.isSafeInteger(warmScore(true, true, 0, 1, true)));
  });
});

describe('runtimeKeyOfCapabilities', () => {
  const caps = {
    criuOk: true,
    arch: 'x86_64',
    cpuFlags: 'sse2 avx fpu',
    kernel: '6.18.0',
    criuVersion: '4.2.1',
    criuMode: 'no-breakpoints',
    runcVersion: '1.1.5',
  };

  test('the same key the agent computes from its fingerprint', () => {
    const agent = runtimeKey({ ...caps, cpuFlags: ['fpu', 'avx', 'sse2'] });
    assert.equal(runtimeKeyOfCapabilities(caps), agent);
    assert.notEqual(runtimeKeyOfCapabilities({ ...caps, criuVersion: '4.1.1' }), agent);
  });

  test('none where CRIU does not work or a field is missing', () => {
    assert.equal(runtimeKeyOfCapabilities({ ...caps, criuOk: false }), undefined);
    assert.equal(runtimeKeyOfCapabilities({ ...caps, criuMode: '' }), undefined);
    assert.equal(runtimeKeyOfCapabilities(Object.fromEntries(Object.entries(caps).filter(([k]) => k !== 'kernel'))), undefined);
  });
});
