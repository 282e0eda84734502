import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import { CordonSync } from './cordon-sync';
import { cappedCapacity, kubeNodeSchema, mergedLabels, parseQuantity, viewOf, type NodeView } from './node-view';

const view = (cordoned: boolean): NodeView => ({ labels: {}, cordoned, allocatable: {} });
const silent = createLogger({ service: 'test', level: 'silent' });

describe('Node view', () => {
  test('quantities', () => {
    assert.equal(parseQuantity('3500m'), 3.5);
    assert.equal(parseQuantity('4'), 4);
    assert.equal(parseQuantity('16Gi'), 16 * 2 ** 30);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('lots'), undefined);
  });

  test('labels, cordon and allocatable of a Node', () => {
    const node = kubeNodeSchema.parse({
      metadata: { name: 'n', labels: { zone: 'a' } },
      spec: {
        taints: [
          { key: 'soft', effect: 'PreferNoSchedule' },
          { key: 'gpu-broken', value: 'yes', effect: 'NoSchedule' },
        ],
      },
      status: { allocatable: { cpu: '7900m', memory: '30Gi', 'amd.com/gpu': '2', 'nvidia.com/gpu': '1' } },
    });
    assert.deepEqual(viewOf(node), {
      labels: { zone: 'a' },
      cordoned: true,
      cordonReason: 'the Node has the NoSchedule taint gpu-broken',
      allocatable: { cpu: 7.9, memoryMiB: 30 * 1024, gpu: 3 },
    });
    assert.equal(viewOf(kubeNodeSchema.parse({ metadata: { name: 'n' } })).cordoned, false);
  });

  test('capacity is capped by allocatable, never raised', () => {
    const configured = { cpu: 16, memoryMiB: 4096, gpu: 0 };
    assert.deepEqual(cappedCapacity(configured, { labels: {}, cordoned: false, allocatable: { cpu: 7.9, memoryMiB: 30720, gpu: 2 } }), {
      cpu: 7.9,
      memoryMiB: 4096,
      gpu: 0,
    });
  });

  test('the agent’s own labels win; past the limit Node labels are left out', () => {
    const { labels, dropped } = mergedLabels({ zone: 'mine', 'warmpod.io/node': 'n' }, { zone: 'a', b: '1', c: '2' }, 3);
    assert.deepEqual(labels, { zone: 'mine', 'warmpod.io/node': 'n', b: '1' });
    assert.deepEqual(dropped, ['c']);
  });
});

describe('CordonSync', () => {
  function store(results: boolean[] = []) {
    const writes: boolean[] = [];
    return { writes, setCordoned: async (_id: string, c: boolean) => (writes.push(c), results.shift() ?? true) };
  }
  const settle = () => new Promise((r) => setTimeout(r, 30));

  test('mirrors a Node cordon and lifts only its own', async () => {
    const s = store();
    const sync = new CordonSync('n', s, silent, 10);
    sync.apply(view(false));
    sync.apply(view(true));
    await settle();
    sync.apply(view(true));
    sync.apply(view(false));
    await settle();
    sync.apply(undefined);
    await settle();
    assert.deepEqual(s.writes, [true, false, true]);
  });

  test('a write before registration is retried; a change of mind cancels it', async () => {
    const s = store([false, false]);
    const sync = new CordonSync('n', s, silent, 10);
    sync.apply(view(true));
    await settle();
    await settle();
    assert.deepEqual(s.writes.slice(0, 3), [true, true, true]);
    const later = store([false]);
    const sync2 = new CordonSync('n', later, silent, 10);
    sync2.apply(view(true));
    sync2.apply(view(false));
    await settle();
    assert.deepEqual(later.writes, [true]);
    sync.stop();
    sync2.stop();
  });
});
