import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeRecord } from '@warmpod/store';
import { toNodeResponse } from './node-response';

const node: NodeRecord = {
  id: 'node-a',
  labels: { zone: 'a' },
  capacity: { cpu: 0.7, memoryMiB: 1024, gpu: 1 },
  allocated: { cpu: 0.4, memoryMiB: 1536, gpu: 0 },
  agentUrl: 'http://127.0.0.1:1',
  capabilities: { criu: false },
  registeredAt: '2026-01-01T00:00:00.000Z',
  heartbeatAt: '2026-01-01T00:00:10.000Z',
  cordoned: false,
  cachedDigests: [{ digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 10 }],
};

test('free is capacity minus allocation, in whole millicores, never negative', () => {
  const r = toNodeResponse(node, 6000, Date.parse('2026-01-01T00:00:12.000Z'));
  assert.deepEqual(r.free, { cpu: 0.3, memoryMiB: 0, gpu: 1 });
});

test('health follows the heartbeat window', () => {
  assert.equal(toNodeResponse(node, 6000, Date.parse('2026-01-01T00:00:15.000Z')).health, 'Ready');
  assert.equal(toNodeResponse(node, 6000, Date.parse('2026-01-01T00:00:17.000Z')).health, 'NotReady');
});

test('does not show where the agent listens', () => {
  assert.equal('agentUrl' in toNodeResponse(node, 6000), false);
});

test('shows only what the visibility allows, counting the rest', () => {
  const shared: NodeRecord = {
    ...node,
    runningPods: ['pod-mine', 'pod-theirs'],
    checkpoints: [
      { id: 'ckpt-mine', key: 'ck1-mine', state: 'available', sizeBytes: 1 },
      { id: 'ckpt-theirs', key: 'ck1-theirs', state: 'available', sizeBytes: 2 },
    ],
  };
  const mine = (id: string) => id.endsWith('-mine');
  const r = toNodeResponse(shared, 6000, Date.now(), { pod: mine, checkpoint: mine });
  assert.deepEqual(r.runningPods, ['pod-mine']);
  assert.deepEqual(
    r.checkpoints.map((c) => c.id),
    ['ckpt-mine'],
  );
  assert.deepEqual(r.hidden, { runningPods: 1, checkpoints: 1 });
  assert.equal(JSON.stringify(r).includes('theirs'), false);
  assert.deepEqual(toNodeResponse(shared, 6000).hidden, { runningPods: 0, checkpoints: 0 }, 'no visibility: everything (operators)');
});
