import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { LayerError, NodeRuntimeError } from '@warmpod/node-runtime';
import { RegistryError } from '@warmpod/registry';
import { asJobError } from './image-puller';

describe('asJobError', () => {
  const wrapped = (kind: RegistryError['kind']) =>
    new NodeRuntimeError('pull image', 'x', undefined, { cause: new RegistryError(`registry said ${kind}`, kind) });

  test('a registry that is away is retried, however deep the cause', () => {
    const error = wrapped('unavailable');
    assert.equal(asJobError(error), error);
    assert.equal(asJobError(error) instanceof PermanentJobError, false);
  });

  test('not found, denied and invalid content are permanent, keeping the message', () => {
    for (const kind of ['not-found', 'denied', 'invalid'] as const) {
      const result = asJobError(wrapped(kind));
      assert.ok(result instanceof PermanentJobError, kind);
      assert.equal(result.message, 'pull image failed: x');
    }
    assert.ok(asJobError(new RegistryError('gone', 'not-found')) instanceof PermanentJobError);
  });

  test('a layer the store refuses is permanent; a full disk while unpacking is retried', () => {
    const refused = new NodeRuntimeError('pull image', 'x', undefined, { cause: new LayerError('diff_id mismatch') });
    assert.ok(asJobError(refused) instanceof PermanentJobError);
    const full = new NodeRuntimeError('pull image', 'x', undefined, { cause: new LayerError('disk full', { refused: false }) });
    assert.equal(asJobError(full), full);
  });

  test('anything else (unpack, disk) is retried', () => {
    const error = new NodeRuntimeError('pull image', 'umoci exited 1');
    assert.equal(asJobError(error), error);
    assert.equal(asJobError('odd').message, 'odd');
  });
});
