import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PlacementIndex } from '@warmpod/domain';
import { spreadOver } from './pool-pod-launcher';
import { holdsDigest, NODE_LABEL, roomFor, WarmNodes } from './warm-nodes';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const want = { cpu: 0.5, memoryMiB: 256, gpu: 0 };

function node(id: string, digests: string[], allocatedCpu = 0, labels: Record<string, string> = {}) {
  return {
    id,
    ready: true,
    cordoned: false,
    labels,
    capacity: { cpu: 2, memoryMiB: 4096, gpu: 0 },
    allocated: { cpu: allocatedCpu, memoryMiB: 0, gpu: 0 },
    images: digests.map((digest) => ({
      digest,
      sizeBytes: 1000,
      layers: [{ digest: `sha256:${digest.slice(-8).padStart(64, '0')}`, sizeBytes: 1000 }],
    })),
    checkpointKeys: [],
  };
}

describe('warm nodes', () => {
  test('room is the scarcest resource left, in whole pods', () => {
    assert.equal(roomFor({ capacity: { cpu: 2, memoryMiB: 1024, gpu: 0 }, allocated: { cpu: 0.5, memoryMiB: 0, gpu: 0 } }, want), 3);
    assert.equal(roomFor({ capacity: { cpu: 2, memoryMiB: 600, gpu: 0 }, allocated: { cpu: 0, memoryMiB: 0, gpu: 0 } }, want), 2);
    assert.equal(roomFor({ capacity: { cpu: 2, memoryMiB: 600, gpu: 0 }, allocated: { cpu: 2, memoryMiB: 0, gpu: 0 } }, want), 0);
    assert.equal(
      roomFor(
        { capacity: { cpu: 0.3, memoryMiB: 0.3, gpu: 0 }, allocated: { cpu: 0.1, memoryMiB: 0.1, gpu: 0 } },
        { cpu: 0.1, memoryMiB: 0.1, gpu: 0 },
      ),
      2,
    );
  });

  test('only nodes holding the digest count, whatever their load; others are not warm', async () => {
    const index = new PlacementIndex();
    const records = [node('cold', [E]), node('warm-busy', [D], 1.5, { [NODE_LABEL]: 'warm-busy' }), node('warm', [D])];
    for (const n of records) index.upsertNode(n);
    const ranking = index.plan({ digest: D, layers: [], resources: want, nodeSelector: {} }, { limit: 8 });
    assert.deepEqual(
      ranking.candidates
        .filter(holdsDigest)
        .map((c) => c.node)
        .sort(),
      ['warm', 'warm-busy'],
    );

    const byId = new Map(records.map((r) => [r.id, r]));
    const warm = new WarmNodes({ plan: (req, limit) => index.plan(req, { limit }) }, { get: async (id) => byId.get(id) as never });
    const found = await warm.find({
      image: { requested: 'x', reference: 'x', pinned: 'x', digest: D },
      template: { command: [], args: [], env: {}, ports: [], resources: want },
      nodeSelector: {},
    });
    assert.deepEqual(
      found.sort((a, b) => a.id.localeCompare(b.id)),
      [
        { id: 'warm', room: 4, selectable: false },
        { id: 'warm-busy', room: 1, selectable: true },
      ],
    );
  });

  test('pods are spread by room left, never beyond it', () => {
    const targets = [
      { id: 'a', room: 3, selectable: false },
      { id: 'b', room: 1, selectable: false },
    ];
    assert.deepEqual(
      spreadOver(targets, 2).map((t) => t.id),
      ['a', 'a'],
    );
    assert.deepEqual(
      spreadOver(
        [
          { id: 'a', room: 2, selectable: false },
          { id: 'b', room: 2, selectable: false },
        ],
        2,
      ).map((t) => t.id),
      ['a', 'b'],
    );
    assert.deepEqual(spreadOver(targets, 10).map((t) => t.id).length, 4);
  });
});
