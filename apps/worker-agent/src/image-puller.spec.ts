import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { LayerError, NodeRuntimeError } from '@warmpod/node-runtime';
import { createLogger } from '@warmpod/observability';
import { RegistryError } from '@warmpod/registry';
import { asJobError, ImagePuller, type ImagePullerDeps } from './image-puller';

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

describe('ImagePuller', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const job = { digest, pinned: `registry.test/app@${digest}`, requestId: 'req-1' };

  /** A node whose store answers slowly: the last progress write takes longer than the inventory write. */
  function slowStore() {
    const events: string[] = [];
    const later = (ms: number, what: string) => new Promise<void>((r) => setTimeout(() => (events.push(what), r()), ms));
    const image = { digest, sizeBytes: 10, layers: [{ digest: `sha256:${'b'.repeat(64)}`, sizeBytes: 10 }] };
    const deps: ImagePullerDeps = {
      nodeId: 'n1',
      cache: {
        arch: 'amd64',
        has: async () => false,
        prefetch: () => undefined,
        ensure: async (_pinned, onProgress) => {
          onProgress?.({ bytesDone: 10, bytesTotal: 10, layersDone: 1, layersTotal: 1 });
          return {
            digest,
            bundleDir: '/b',
            lowers: { dir: '/b/lower', names: ['0'] },
            imageConfig: {},
            bytesFetched: 10,
            alreadyCached: false,
          };
        },
        list: async () => [
          { ...image, layers: [{ ...image.layers[0]!, diffId: `sha256:${'c'.repeat(64)}`, unpackedBytes: 20 }], diskBytes: 30 },
        ],
      },
      pulls: {
        progress: () => later(30, 'progress'),
        finish: async (_n, _d, outcome) => void events.push(`finish ${outcome.state}`),
        get: async () => undefined,
      },
      nodes: { addCachedDigest: () => later(5, 'inventory') },
      images: { get: async () => ({ sizeBytes: image.sizeBytes, layers: image.layers }) },
      registry: { describeImage: async () => ({ sizeBytes: image.sizeBytes, layers: image.layers }) },
      budget: { reserve: async () => ({ evicted: [], release: () => undefined }) },
      lastUse: { touch: () => undefined },
      reportChange: () => void events.push('report'),
      logger: createLogger({ service: 'puller-spec', level: 'silent' }),
      progressIntervalMs: 1_000,
    };
    return { deps, events };
  }

  test('the pull is marked ready only once its inventory and its last progress have landed', async () => {
    const { deps, events } = slowStore();
    await new ImagePuller(deps).pull(job, 1);
    assert.deepEqual(events, ['inventory', 'report', 'progress', 'finish ready']);
  });
});
