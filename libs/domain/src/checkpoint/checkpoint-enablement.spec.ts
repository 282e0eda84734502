import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { effectiveCheckpointing } from './checkpoint-enablement';
import type { CheckpointSpec } from './checkpoint-spec';

const ON: CheckpointSpec = { enabled: true, condition: { type: 'tcp', port: 80 }, timeoutSeconds: 60 };
const facts = { criuCapableNodes: 2 };

describe('effectiveCheckpointing', () => {
  test('requested, one GPU or none, a CRIU node fits, no policy against it: on', () => {
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 0 }, facts), { enabled: true });
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 1 }, { ...facts, policy: { allowed: true } }), { enabled: true });
  });

  test('not requested (absent or enabled false)', () => {
    for (const spec of [undefined, { ...ON, enabled: false }]) {
      assert.deepEqual(effectiveCheckpointing(spec, { gpu: 0 }, facts), {
        enabled: false,
        code: 'not-requested',
        reason: 'checkpointing was not requested',
      });
    }
  });

  test('more than one GPU is off with the count in the reason', () => {
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 2 }, facts), {
      enabled: false,
      code: 'multi-gpu',
      reason: 'the pod asks for 2 GPUs; checkpointing supports at most 1',
    });
  });

  test('no CRIU-capable node that fits', () => {
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 0 }, { criuCapableNodes: 0 }), {
      enabled: false,
      code: 'no-criu-node',
      reason: 'no node that fits the pod has a working CRIU',
    });
  });

  test('policy off, with and without its reason, wins over the pod and cluster checks', () => {
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 4 }, { criuCapableNodes: 0, policy: { allowed: false, reason: 'tenant tier' } }), {
      enabled: false,
      code: 'policy',
      reason: 'checkpointing is off by policy: tenant tier',
    });
    assert.deepEqual(effectiveCheckpointing(ON, { gpu: 0 }, { ...facts, policy: { allowed: false } }), {
      enabled: false,
      code: 'policy',
      reason: 'checkpointing is off by policy',
    });
  });
});
