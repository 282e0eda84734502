import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildCheckpointManifest,
  CHECKPOINT_ARTIFACT_TYPE,
  checkpointRepository,
  parseCheckpointManifest,
  ROOTFS_DIFF_MEDIA,
  sha256Digest,
  type CheckpointArtifactParts,
} from './checkpoint-artifact';

const blob = (text: string) => ({ digest: sha256Digest(text), size: text.length });
const parts: CheckpointArtifactParts = {
  config: blob('{}'),
  criuFiles: [
    { name: 'pages-1.img', ...blob('pages') },
    { name: 'core-1.img', ...blob('core') },
  ],
  rootfsDiff: blob('tar'),
  annotations: { 'io.warmpod.checkpoint.id': 'ckpt-1' },
};

const manifestOf = (p: CheckpointArtifactParts): Record<string, unknown> => JSON.parse(buildCheckpointManifest(p).toString('utf8'));

describe('checkpoint artifact manifest', () => {
  test('round-trips, typed as a warmpod checkpoint, canonical whatever the file order', () => {
    const body = buildCheckpointManifest(parts);
    const json = JSON.parse(body.toString('utf8'));
    assert.equal(json.artifactType, CHECKPOINT_ARTIFACT_TYPE);
    const back = parseCheckpointManifest(json);
    assert.deepEqual(
      back.criuFiles.map((f) => f.name),
      ['core-1.img', 'pages-1.img'],
    );
    assert.deepEqual(back.rootfsDiff, parts.rootfsDiff);
    assert.deepEqual(back.config, parts.config);
    assert.equal(back.annotations['io.warmpod.checkpoint.id'], 'ckpt-1');
    const reordered = buildCheckpointManifest({ ...parts, criuFiles: [...parts.criuFiles].reverse() });
    assert.equal(sha256Digest(reordered), sha256Digest(body));
  });

  test('refuses anything that is not a checkpoint, or names files outside the images dir', () => {
    const good = manifestOf(parts);
    const layers = good['layers'] as Array<Record<string, unknown>>;
    const cases: Array<[string, unknown, RegExp]> = [
      ['an image manifest', { ...good, artifactType: 'application/vnd.oci.image.config.v1+json' }, /artifactType/],
      [
        'a path as file name',
        { ...good, layers: layers.map((l, i) => (i === 0 ? { ...l, annotations: { 'org.opencontainers.image.title': '../x' } } : l)) },
        /not a flat file name/,
      ],
      ['a file named twice', { ...good, layers: [layers[0], ...layers] }, /twice/],
      ['no writable layer', { ...good, layers: layers.filter((l) => l['mediaType'] !== ROOTFS_DIFF_MEDIA) }, /0 writable-layer blobs/],
      [
        'a layer of another type',
        { ...good, layers: [...layers, { mediaType: 'text/plain', digest: blob('x').digest, size: 1 }] },
        /unknown type/,
      ],
      ['a digest that is not sha256', { ...good, config: { ...(good['config'] as object), digest: 'md5:00' } }, /sha256/],
    ];
    for (const [what, json, message] of cases) assert.throws(() => parseCheckpointManifest(json), message, what);
    assert.throws(() => buildCheckpointManifest({ ...parts, criuFiles: [{ name: 'a/b', ...blob('x') }] }), /flat file name/);
  });

  test('one repository per tenant, a valid OCI name whatever the tenant is called', () => {
    const a = checkpointRepository('Tenant.A');
    assert.equal(a, checkpointRepository('Tenant.A'));
    assert.notEqual(a, checkpointRepository('tenant.a'));
    assert.match(a, /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/);
  });
});
