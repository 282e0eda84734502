import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PlacementIndex } from './placement-index';
import { rejectionSummary } from './placement-reasons';
import type { CachedImage, ImageLayer, PlacementNode, PodPlacementRequest } from './types';
import { placementNode } from './testing/placement-node';
import { warmScore } from './warm-ranking';

const MB = 1_000_000;
const layer = (name: string, sizeBytes: number): ImageLayer => ({ digest: `sha256:layer-${name}`, sizeBytes });
const image = (name: string, layers: ImageLayer[]): CachedImage => ({
  digest: `sha256:image-${name}`,
  sizeBytes: layers.reduce((s, l) => s + l.sizeBytes, 0),
  layers,
});

const base = [layer('base-1', 700 * MB), layer('base-2', 20 * MB)];
const APP = image('app', [...base, layer('app', 280 * MB)]);
const SIBLING = image('sibling', [...base, layer('sibling', 50 * MB)]);
const UNRELATED = image('unrelated', [layer('other', 900 * MB)]);

const node = placementNode;

function request(over: Partial<PodPlacementRequest> = {}): PodPlacementRequest {
  return { digest: APP.digest, layers: APP.layers, resources: { cpu: 1, memoryMiB: 1024, gpu: 0 }, nodeSelector: {}, ...over };
}

function indexOf(...nodes: PlacementNode[]): PlacementIndex {
  const index = new PlacementIndex();
  for (const n of nodes) index.upsertNode(n);
  return index;
}

const order = (index: PlacementIndex, req = request()) => index.plan(req).candidates.map((c) => c.node);
const busy = { cpu: 7, memoryMiB: 15000, gpu: 0 };

describe('PlacementIndex ordering (rule 2, one tier at a time)', () => {
  test('least allocated wins when nothing of the image is anywhere', () => {
    const index = indexOf(node('a', { allocated: { cpu: 4, memoryMiB: 8192, gpu: 0 } }), node('b'), node('c', { allocated: busy }));
    assert.deepEqual(order(index), ['b', 'a', 'c']);
    assert.match(index.plan(request()).candidates[0].why, /no layer of the image on the node; least allocated/);
  });

  test('fewer bytes to fetch beats a less allocated node (shared base layers count)', () => {
    const index = indexOf(
      node('empty'),
      node('shares-base', { allocated: busy, images: [SIBLING] }),
      node('other', { images: [UNRELATED] }),
    );
    const plan = index.plan(request());
    assert.deepEqual(
      plan.candidates.map((c) => [c.node, c.bytesToFetch]),
      [
        ['shares-base', 280 * MB],
        ['empty', 1000 * MB],
        ['other', 1000 * MB],
      ],
    );
    assert.equal(plan.candidates[0].why, "72% of the image's bytes already on the node (shared layers), 280 MB to fetch");
  });

  test('more shared layers wins among cold nodes', () => {
    const partly = image('partly', [layer('base-2', 20 * MB), layer('x', 5 * MB)]);
    const index = indexOf(node('little', { images: [partly] }), node('most', { allocated: busy, images: [SIBLING] }));
    assert.deepEqual(order(index), ['most', 'little']);
  });

  test('the pinned digest beats a node holding all but a sliver of the bytes', () => {
    const almost = image('almost', [...base, layer('app', 280 * MB)]);
    // Same layers, other digest (e.g. a rebuilt tag): bytes to fetch 0, yet the digest holder ranks first.
    const index = indexOf(node('layers-only', { images: [almost] }), node('digest', { allocated: busy, images: [APP] }));
    const plan = index.plan(request());
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['digest', 'layers-only'],
    );
    assert.equal(plan.candidates[0].why, 'pinned digest already in node cache');
    assert.equal(plan.candidates[1].bytesToFetch, 0);
  });

  test('a compatible checkpoint beats the pinned digest', () => {
    const index = indexOf(node('digest', { images: [APP] }), node('checkpoint', { allocated: busy, checkpointKeys: ['ck-1'] }));
    const plan = index.plan(request({ checkpointKey: 'ck-1' }));
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['checkpoint', 'digest'],
    );
    assert.match(plan.candidates[0].why, /^compatible checkpoint on the node \(restore\), 1\.0 GB of image to fetch$/);
    assert.deepEqual(order(index, request({ checkpointKey: 'ck-other' })), ['digest', 'checkpoint']);
  });

  test('scores order exactly like the tiers', () => {
    const free = warmScore(false, false, 0, 1);
    assert.ok(warmScore(true, false, 20e9, 0) > warmScore(false, true, 0, 1));
    assert.ok(warmScore(false, true, 0, 0) > free);
    assert.ok(warmScore(false, false, 1024, 0) > warmScore(false, false, 2048, 1));
    assert.ok(warmScore(false, false, 4096, 0.5) > warmScore(false, false, 4096, 0.4));
    assert.ok(Number.isSafeInteger(warmScore(true, true, 0, 1)));
  });

  test('ties break on node id, whatever the registration order', () => {
    const ids = ['n-3', 'n-10', 'n-1', 'n-2'];
    const a = indexOf(...ids.map((id) => node(id)));
    const b = indexOf(...[...ids].reverse().map((id) => node(id)));
    assert.deepEqual(order(a), ['n-1', 'n-10', 'n-2', 'n-3']);
    assert.deepEqual(order(b), order(a));
    assert.deepEqual(a.plan(request()), b.plan(request()));
  });

  test('returns only the top `limit` candidates', () => {
    const index = indexOf(
      ...Array.from({ length: 30 }, (_, i) =>
        node(`n-${String(i).padStart(2, '0')}`, { allocated: { cpu: i * 0.2, memoryMiB: 0, gpu: 0 } }),
      ),
    );
    const plan = index.plan(request(), { limit: 3 });
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['n-00', 'n-01', 'n-02'],
    );
    assert.equal(plan.feasible, 30);
  });
});

describe('PlacementIndex hard filters', () => {
  const gpuNode = (id: string, over: Partial<PlacementNode> = {}) => node(id, { capacity: { cpu: 8, memoryMiB: 16384, gpu: 2 }, ...over });

  test('each filter rejects with its reason, counted once per node', () => {
    const index = indexOf(
      gpuNode('down', { ready: false, cordoned: true }),
      gpuNode('cordoned', { cordoned: true }),
      gpuNode('zone-b', { labels: { zone: 'b' } }),
      gpuNode('no-criu', { labels: { zone: 'a' } }),
      gpuNode('cpu-full', { labels: { zone: 'a' }, capabilities: ['criu-restore'], allocated: { cpu: 7.5, memoryMiB: 0, gpu: 0 } }),
      gpuNode('mem-full', { labels: { zone: 'a' }, capabilities: ['criu-restore'], allocated: { cpu: 0, memoryMiB: 16000, gpu: 0 } }),
      node('no-gpu', { labels: { zone: 'a' }, capabilities: ['criu-restore'] }),
      node('no-gpu-2', { labels: { zone: 'a' }, capabilities: ['criu-restore'] }),
      gpuNode('fits', { labels: { zone: 'a' }, capabilities: ['criu-restore'], allocated: { cpu: 7, memoryMiB: 15360, gpu: 1 } }),
    );
    const req = request({ nodeSelector: { zone: 'a' }, requireCapability: 'criu-restore', resources: { cpu: 1, memoryMiB: 1024, gpu: 1 } });
    const plan = index.plan(req);
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['fits'],
    );
    assert.deepEqual(plan.rejections, {
      'not ready': 1,
      cordoned: 1,
      'node selector mismatch': 1,
      'missing capability': 1,
      'insufficient cpu': 1,
      'insufficient memory': 1,
      'insufficient gpu': 2,
    });
    assert.equal(
      rejectionSummary(plan),
      '2 nodes: insufficient gpu; 1 node: not ready; 1 node: cordoned; 1 node: node selector mismatch; ' +
        '1 node: missing capability criu-restore; 1 node: insufficient cpu; 1 node: insufficient memory',
    );
  });

  test('nothing fits: the summary says why; no nodes: it says so', () => {
    const index = indexOf(node('a', { ready: false }), node('b', { ready: false }), node('c'));
    const plan = index.plan(request({ resources: { cpu: 1, memoryMiB: 1, gpu: 1 } }));
    assert.equal(plan.candidates.length, 0);
    assert.equal(rejectionSummary(plan), '2 nodes: not ready; 1 node: insufficient gpu');
    assert.equal(rejectionSummary(new PlacementIndex().plan(request())), 'no nodes registered');
  });

  test('selectors match every label; relabelled nodes move; unknown labels match nothing', () => {
    const index = indexOf(
      node('a', { labels: { zone: 'a', disk: 'ssd' } }),
      node('b', { labels: { zone: 'a' } }),
      node('c', { labels: { disk: 'ssd' } }),
    );
    assert.deepEqual(order(index, request({ nodeSelector: { zone: 'a', disk: 'ssd' } })), ['a']);
    index.upsertNode(node('b', { labels: { zone: 'a', disk: 'ssd' } }));
    index.upsertNode(node('a', { labels: { zone: 'b', disk: 'ssd' } }));
    assert.deepEqual(order(index, request({ nodeSelector: { zone: 'a', disk: 'ssd' } })), ['b']);
    const none = index.plan(request({ nodeSelector: { gpu: 'h100' } }));
    assert.equal(rejectionSummary(none), '3 nodes: node selector mismatch');
  });

  test('fractional cpu fits exactly', () => {
    const index = indexOf(node('a', { allocated: { cpu: 7.7, memoryMiB: 0, gpu: 0 } }));
    assert.deepEqual(order(index, request({ resources: { cpu: 0.3, memoryMiB: 1, gpu: 0 } })), ['a']);
  });
});

describe('PlacementIndex incremental updates', () => {
  test('allocations and local reservations move nodes in and out', () => {
    const index = indexOf(node('a'), node('b'));
    const big = request({ resources: { cpu: 6, memoryMiB: 1024, gpu: 0 } });
    assert.ok(index.reserveLocally('a', big.resources));
    assert.deepEqual(order(index, big), ['b']);
    index.setAllocated('b', { cpu: 4, memoryMiB: 0, gpu: 0 });
    assert.deepEqual(order(index, big), []);
    // The store confirms a's reservation: allocated carries it, the local hold goes.
    index.setAllocated('a', big.resources);
    index.releaseLocally('a', big.resources);
    assert.deepEqual(order(index, request({ resources: { cpu: 2, memoryMiB: 1024, gpu: 0 } })), ['b', 'a']);
    index.releaseLocally('b', big.resources); // more than held: clamps at zero, no phantom room
    assert.deepEqual(order(index, big), []);
    assert.equal(index.reserveLocally('ghost', big.resources), false);
  });

  test('images, checkpoints, health and removal update the indexes', () => {
    const index = indexOf(node('a'), node('b', { allocated: busy }));
    assert.deepEqual(order(index), ['a', 'b']);
    index.addImage('b', SIBLING);
    assert.deepEqual(order(index), ['b', 'a']);
    index.addImage('a', APP);
    assert.deepEqual(order(index), ['a', 'b']);
    index.removeImage('a', APP.digest);
    assert.deepEqual(order(index), ['b', 'a']);
    index.addCheckpoint('a', 'ck');
    assert.deepEqual(order(index, request({ checkpointKey: 'ck' })), ['a', 'b']);
    index.removeCheckpoint('a', 'ck');
    assert.deepEqual(order(index, request({ checkpointKey: 'ck' })), ['b', 'a']);
    index.setHealth('b', { cordoned: true });
    index.setHealth('b', { ready: false });
    index.setHealth('b', { ready: true });
    assert.deepEqual(order(index), ['a'], 'cordon survives a not-ready spell');
    index.setHealth('b', { cordoned: false });
    assert.ok(index.removeNode('b'));
    assert.deepEqual(order(index), ['a']);
    assert.equal(index.size, 1);
  });

  test('a layer shared by two cached images stays until both are gone', () => {
    const index = indexOf(node('a', { images: [SIBLING, image('sibling-2', [...base])] }), node('b'));
    const bytes = () => index.plan(request()).candidates.find((c) => c.node === 'a')?.bytesToFetch;
    assert.equal(bytes(), 280 * MB);
    index.removeImage('a', SIBLING.digest);
    assert.equal(bytes(), 280 * MB);
    index.removeImage('a', 'sha256:image-sibling-2');
    assert.equal(bytes(), 1000 * MB);
  });

  test('upsert replaces the inventory; a reused slot carries nothing over', () => {
    const index = indexOf(node('a', { images: [APP], checkpointKeys: ['ck'] }), node('b'));
    index.upsertNode(node('a', { images: [UNRELATED] }));
    assert.deepEqual(order(index, request({ checkpointKey: 'ck' })), ['a', 'b']);
    assert.equal(index.plan(request()).candidates[0].bytesToFetch, 1000 * MB);
    index.removeNode('a');
    index.upsertNode(node('c'));
    index.reserveLocally('c', { cpu: 1, memoryMiB: 0, gpu: 0 });
    index.removeNode('c');
    index.upsertNode(node('d', { allocated: busy }));
    const plan = index.plan(request());
    assert.deepEqual(
      plan.candidates.map((c) => [c.node, c.bytesToFetch]),
      [
        ['b', 1000 * MB],
        ['d', 1000 * MB],
      ],
    );
    assert.deepEqual(order(index, request({ checkpointKey: 'ck' })), ['b', 'd']);
  });

  test('grows past its initial slots and matches a fresh index', () => {
    const nodes = Array.from({ length: 300 }, (_, i) =>
      node(`n-${i}`, { images: i % 7 === 0 ? [APP] : i % 3 === 0 ? [SIBLING] : [], allocated: { cpu: i % 8, memoryMiB: 0, gpu: 0 } }),
    );
    const grown = new PlacementIndex();
    for (const n of nodes) grown.upsertNode({ ...n, images: [] });
    for (const n of nodes) for (const img of n.images) grown.addImage(n.id, img);
    assert.deepEqual(grown.plan(request(), { limit: 20 }), indexOf(...nodes).plan(request(), { limit: 20 }));
  });
});
