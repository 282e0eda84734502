import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCapacityUsage } from '@warmpod/store';
import { toPlacementNode } from './placement-view';

const NOW = Date.parse('2026-01-01T00:00:10.000Z');

function record(over: Partial<Parameters<typeof toPlacementNode>[0]> = {}): Parameters<typeof toPlacementNode>[0] {
  return {
    id: 'n1',
    heartbeatAt: '2026-01-01T00:00:09.000Z',
    cordoned: false,
    labels: { zone: 'a' },
    capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 },
    allocated: { cpu: 1, memoryMiB: 512, gpu: 0 },
    capabilities: { criuOk: true },
    checkpoints: [
      { id: 'c1', key: 'ready-key', state: 'available', sizeBytes: 1 },
      { id: 'c2', key: 'half-written', state: 'creating', sizeBytes: 1 },
      { id: 'c3', key: 'bad', state: 'quarantined', sizeBytes: 1 },
    ],
    ...over,
  };
}

describe('toPlacementNode', () => {
  test('indexes only available checkpoints and names criu-restore for CRIU-capable nodes', () => {
    const node = toPlacementNode(record(), 5_000, [], NOW);
    assert.deepEqual(node.checkpointKeys, ['ready-key']);
    assert.deepEqual(node.capabilities, ['criu-restore']);
    assert.equal(node.ready, true);
    assert.deepEqual(toPlacementNode(record({ capabilities: { criuOk: false } }), 5_000, [], NOW).capabilities, []);
  });

  test('a lost or silent node is not ready', () => {
    assert.equal(toPlacementNode(record({ lostAt: '2026-01-01T00:00:09.500Z' }), 5_000, [], NOW).ready, false);
    assert.equal(toPlacementNode(record(), 500, [], NOW).ready, false);
  });
});

describe('parseFreedCapacity', () => {
  test('reads the node and its usage after the release', () => {
    assert.deepEqual(parseCapacityUsage('node-7 1500 2048 1 42'), {
      nodeId: 'node-7',
      allocated: { cpu: 1.5, memoryMiB: 2048, gpu: 1 },
      usageRev: 42,
    });
  });

  test('refuses anything else (a bare id from an older writer, garbage)', () => {
    for (const message of ['node-7', 'node-7 1 2 3', 'node-7 a 2 3 4', ' 1 2 3 4', 'node-7 1 2 3 4 5'])
      assert.equal(parseCapacityUsage(message), undefined, message);
  });
});
