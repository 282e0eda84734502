import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { changes, inventoryMessage, snapshot, type AgentInventory } from './inventory-diff';

describe('client change reports', () => {
  const img = (c: string) => ({ digest: `sha256:${c.repeat(64)}`, sizeBytes: 1, layers: [] });
  const inv = (over: Partial<AgentInventory> = {}): AgentInventory => ({
    images: [img('a')],
    runningPods: ['p1'],
    checkpoints: [],
    usage: { cpu: 0, memoryMiB: 0, gpu: 0 },
    ...over,
  });

  test('nothing changed: no report', () => {
    assert.equal(changes(snapshot(inv()), inv({ runningPods: ['p1'] })), undefined);
  });

  test('images added and removed; running pods as a full list', () => {
    const delta = changes(snapshot(inv()), inv({ images: [img('b')], runningPods: ['p2', 'p3'] }));
    assert.deepEqual(delta, {
      addedImages: [img('b')],
      removedImages: [img('a').digest],
      runningPods: ['p2', 'p3'],
      checkpoints: [],
      usage: { cpu: 0, memoryMib: 0, gpu: 0 },
    });
  });

  test('the order of running pods is not a change; an image whose layers changed is sent again', () => {
    assert.equal(changes(snapshot(inv({ runningPods: ['p1', 'p2'] })), inv({ runningPods: ['p2', 'p1'] })), undefined);
    const relayered = { ...img('a'), layers: [{ digest: img('c').digest, sizeBytes: 1 }] };
    const delta = changes(snapshot(inv()), inv({ images: [relayered] }));
    assert.deepEqual(delta?.addedImages, [relayered]);
    assert.deepEqual(delta?.removedImages, []);
  });

  test('usage alone is a change, and travels in the wire spelling', () => {
    const delta = changes(snapshot(inv()), inv({ usage: { cpu: 1.5, memoryMiB: 256, gpu: 1 } }));
    assert.deepEqual(delta?.usage, { cpu: 1.5, memoryMib: 256, gpu: 1 });
    assert.deepEqual(inventoryMessage(inv()).usage, { cpu: 0, memoryMib: 0, gpu: 0 });
  });
});
