import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import type { InventoryPart, InventoryParts } from './inventory-diff';
import { InventoryReporter } from './inventory-reporter';
import type { NodeReportBody } from './messages';

const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

/** A node and a stream, both in memory. */
function harness(coalesceMs = 10) {
  const state = { running: [] as string[], images: [] as string[], open: true, collected: 0, failNext: false, asked: [] as string[] };
  const sent: NodeReportBody[] = [];
  const reporter = new InventoryReporter({
    collect: async (parts: ReadonlySet<InventoryPart>): Promise<InventoryParts> => {
      state.collected++;
      state.asked.push([...parts].sort().join(','));
      if (state.failNext) {
        state.failNext = false;
        throw new Error('runc list failed');
      }
      return {
        ...(parts.has('images') && { images: state.images.map((digest) => ({ digest, sizeBytes: 1, layers: [] })) }),
        ...(parts.has('runningPods') && { runningPods: [...state.running] }),
        ...(parts.has('checkpoints') && { checkpoints: [] }),
        usage: { cpu: 0, memoryMiB: 0, gpu: 0 },
      };
    },
    send: (body) => sent.push(body),
    isOpen: () => state.open,
    coalesceMs,
    logger: createLogger({ service: 'test', level: 'silent' }),
  });
  return { state, sent, reporter };
}

describe('InventoryReporter', () => {
  test('the full inventory goes first; changes before it are not reported on their own', async () => {
    const { state, sent, reporter } = harness();
    reporter.changed();
    await settle();
    assert.equal(sent.length, 0);
    state.running = ['p1'];
    await reporter.sendInventory();
    assert.equal(reporter.inventorySent, true);
    assert.deepEqual(sent, [{ inventory: { images: [], runningPods: ['p1'], checkpoints: [], usage: { cpu: 0, memoryMib: 0, gpu: 0 } } }]);
  });

  test('a burst of changes is one collection and one delta; no change, no report', async () => {
    const { state, sent, reporter } = harness();
    await reporter.sendInventory();
    const before = state.collected;
    state.running = ['p2'];
    for (let i = 0; i < 5; i++) reporter.changed();
    await settle();
    assert.equal(state.collected - before, 1);
    assert.equal(sent.length, 2);
    assert.ok('delta' in sent[1]! && sent[1].delta.runningPods[0] === 'p2');
    reporter.changed();
    await settle();
    assert.equal(sent.length, 2, 'an unchanged inventory sends nothing');
  });

  test('a failed collection waits for the next heartbeat tick, then reports', async () => {
    const { state, sent, reporter } = harness();
    await reporter.sendInventory();
    state.failNext = true;
    state.running = ['p3'];
    reporter.changed();
    await settle();
    assert.equal(sent.length, 1);
    reporter.retryPending();
    await settle();
    assert.equal(sent.length, 2);
  });

  test('after stop nothing is scheduled, but lastReport sends what is pending; a closed stream gets nothing', async () => {
    const { state, sent, reporter } = harness(60_000);
    await reporter.sendInventory();
    reporter.changed(); // the first change report goes out at once
    await settle();
    state.running = ['p4'];
    reporter.changed(); // this one waits out the coalescing window
    reporter.stop();
    await settle();
    assert.equal(sent.length, 1);
    await reporter.lastReport();
    assert.equal(sent.length, 2);
    state.open = false;
    state.running = [];
    reporter.changed();
    await reporter.lastReport();
    assert.equal(sent.length, 2);
  });

  test('a change of one part collects that part alone; the others are reported as last collected', async () => {
    const { state, sent, reporter } = harness();
    state.running = ['p5'];
    await reporter.sendInventory();
    assert.deepEqual(state.asked, ['checkpoints,images,runningPods']);
    state.images = ['sha256:a'];
    state.running = []; // not announced: an images change does not look at the containers
    reporter.changed('images');
    await settle();
    assert.deepEqual(state.asked.at(-1), 'images');
    assert.equal(sent.length, 2);
    assert.ok('delta' in sent[1]!);
    assert.deepEqual(
      sent[1].delta.addedImages.map((i) => i.digest),
      ['sha256:a'],
    );
    assert.deepEqual(sent[1].delta.runningPods, ['p5']);
    // Several changes within the window: one collection of their parts together.
    reporter.changed('images');
    reporter.changed('runningPods');
    await settle();
    assert.deepEqual(state.asked.at(-1), 'images,runningPods');
    reporter.changed();
    await settle();
    assert.deepEqual(state.asked.at(-1), 'checkpoints,images,runningPods');
  });

  test('the parts of a failed collection are collected again', async () => {
    const { state, sent, reporter } = harness();
    await reporter.sendInventory();
    state.failNext = true;
    state.images = ['sha256:b'];
    reporter.changed('images');
    await settle();
    reporter.changed('checkpoints');
    await settle();
    reporter.retryPending();
    await settle();
    assert.deepEqual(state.asked.slice(1), ['images', 'checkpoints,images']);
    assert.equal(sent.length, 2);
  });
});
