import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DIGEST_CACHED_WEIGHT, planPlacement, summariseRejections, type NodeView, type PlacementRequest } from './placement';

const DIGEST = `sha256:${'d'.repeat(64)}`;
const OTHER = `sha256:${'e'.repeat(64)}`;

function node(id: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id,
    ready: true,
    cordoned: false,
    labels: {},
    capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 },
    allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
    cachedDigests: new Set<string>(),
    ...over,
  };
}

function request(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { digest: DIGEST, resources: { cpu: 1, memoryMiB: 512, gpu: 0 }, nodeSelector: {}, ...over };
}

describe('planPlacement', () => {
  test('a node holding the pinned digest beats an emptier node without it', () => {
    const busyCached = node('n-busy', {
      allocated: { cpu: 2.5, memoryMiB: 3000, gpu: 0 },
      cachedDigests: new Set([DIGEST]),
    });
    const empty = node('n-empty', { cachedDigests: new Set([OTHER]) });
    const plan = planPlacement([empty, busyCached], request());
    assert.deepEqual(
      plan.candidates.map((c) => [c.node, c.why]),
      [
        ['n-busy', 'pinned digest already in node cache'],
        ['n-empty', 'least allocated node without the digest'],
      ],
    );
    assert.ok(plan.candidates[0]!.score >= DIGEST_CACHED_WEIGHT);
    assert.ok(plan.candidates[1]!.score < DIGEST_CACHED_WEIGHT);
    assert.deepEqual(plan.rejected, []);
  });

  test('among uncached nodes the least allocated wins', () => {
    const plan = planPlacement(
      [
        node('n-a', { allocated: { cpu: 3, memoryMiB: 3000, gpu: 0 } }),
        node('n-b', { allocated: { cpu: 1, memoryMiB: 1000, gpu: 0 } }),
        node('n-c', { allocated: { cpu: 2, memoryMiB: 2000, gpu: 0 } }),
      ],
      request(),
    );
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['n-b', 'n-c', 'n-a'],
    );
    for (const c of plan.candidates) assert.equal(c.why, 'least allocated node (digest not cached on any candidate)');
  });

  test('ties break on node id, whatever the input order', () => {
    const ids = ['n-c', 'n-a', 'n-b'];
    for (const order of [ids, [...ids].reverse()]) {
      const plan = planPlacement(order.map((id) => node(id)), request());
      assert.deepEqual(
        plan.candidates.map((c) => c.node),
        ['n-a', 'n-b', 'n-c'],
      );
    }
  });

  test('hard filters each give their reason', () => {
    const plan = planPlacement(
      [
        node('n-1', { ready: false }),
        node('n-2', { cordoned: true }),
        node('n-3', { labels: { zone: 'b' } }),
        node('n-4', { labels: { zone: 'a' }, allocated: { cpu: 3.5, memoryMiB: 0, gpu: 0 } }),
        node('n-5', { labels: { zone: 'a' }, allocated: { cpu: 0, memoryMiB: 4000, gpu: 0 } }),
        node('n-6', { labels: { zone: 'a' }, capacity: { cpu: 4, memoryMiB: 4096, gpu: 1 }, allocated: { cpu: 0, memoryMiB: 0, gpu: 1 } }),
        node('n-7', { labels: { zone: 'a' }, capacity: { cpu: 4, memoryMiB: 4096, gpu: 2 } }),
      ],
      request({ resources: { cpu: 1, memoryMiB: 512, gpu: 1 }, nodeSelector: { zone: 'a' } }),
    );
    assert.deepEqual(plan.rejected, [
      { node: 'n-1', why: 'node not ready' },
      { node: 'n-2', why: 'node cordoned' },
      { node: 'n-3', why: 'nodeSelector zone=a does not match' },
      { node: 'n-4', why: 'insufficient cpu (0.5 free, 1 wanted)' },
      { node: 'n-5', why: 'insufficient memory (96 MiB free, 512 wanted)' },
      { node: 'n-6', why: 'insufficient gpu (0 free, 1 wanted)' },
    ]);
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['n-7'],
    );
    assert.equal(
      summariseRejections(plan),
      'n-1: node not ready; n-2: node cordoned; n-3: nodeSelector zone=a does not match; ' +
        'n-4: insufficient cpu (0.5 free, 1 wanted); n-5: insufficient memory (96 MiB free, 512 wanted); ' +
        'n-6: insufficient gpu (0 free, 1 wanted)',
    );
  });

  test('a node that is not ready is rejected as such even when also cordoned and full', () => {
    const plan = planPlacement(
      [node('n-1', { ready: false, cordoned: true, allocated: { cpu: 4, memoryMiB: 4096, gpu: 0 } })],
      request(),
    );
    assert.deepEqual(plan.rejected, [{ node: 'n-1', why: 'node not ready' }]);
  });

  test('a missing selector label does not match', () => {
    const plan = planPlacement([node('n-1')], request({ nodeSelector: { gpu: 'true' } }));
    assert.deepEqual(plan.rejected, [{ node: 'n-1', why: 'nodeSelector gpu=true does not match' }]);
  });

  test('an exact fit is a fit, despite floating point', () => {
    // 0.3 - 0.1 is 0.19999999999999998 in floating point.
    const plan = planPlacement(
      [node('n-1', { capacity: { cpu: 0.3, memoryMiB: 512, gpu: 0 }, allocated: { cpu: 0.1, memoryMiB: 0, gpu: 0 } })],
      request({ resources: { cpu: 0.2, memoryMiB: 512, gpu: 0 } }),
    );
    assert.deepEqual(
      plan.candidates.map((c) => c.node),
      ['n-1'],
    );
    assert.deepEqual(plan.rejected, []);
  });

  test('no nodes at all', () => {
    const plan = planPlacement([], request());
    assert.deepEqual(plan, { candidates: [], rejected: [] });
    assert.equal(summariseRejections(plan), 'no nodes registered');
  });
});
