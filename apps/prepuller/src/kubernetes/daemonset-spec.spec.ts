import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { daemonSetFor, warmId } from './daemonset-spec';

const D = `sha256:${'ab'.repeat(32)}`;
const OPTS = { namespace: 'ns', pauseImage: `r.local/pause@sha256:${'e'.repeat(64)}`, noopCommand: ['true'] };

describe('daemonSetFor', () => {
  test('names follow the digest, and the selector when there is one; label values stay short', () => {
    assert.equal(warmId({ digest: D, nodeSelector: {} }), 'abababababab');
    const a = warmId({ digest: D, nodeSelector: { zone: 'a', pool: 'gpu' } });
    assert.equal(a, warmId({ digest: D, nodeSelector: { pool: 'gpu', zone: 'a' } }), 'selector order does not matter');
    assert.notEqual(a, warmId({ digest: D, nodeSelector: { zone: 'b', pool: 'gpu' } }));
    assert.ok(a.length <= 63);
    assert.ok(`warmpod-prepull-${a}`.length <= 63);
  });

  test('an empty selector leaves nodeSelector out (every node)', () => {
    const ds = daemonSetFor({ pinned: `r.local/app@${D}`, digest: D, nodeSelector: {} }, OPTS);
    assert.equal('nodeSelector' in ds.spec.template.spec, false);
    assert.equal(ds.spec.template.spec.initContainers[0]!.image, `r.local/app@${D}`);
    assert.equal(ds.spec.template.spec.initContainers[0]!.imagePullPolicy, 'IfNotPresent');
  });
});
