import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, resolveDigest } from './image-builder';
import { LocalRegistry } from './local-registry';
import { sampleImages } from './sample-images';

let dir: string;
let registry: LocalRegistry;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'devkit-test-'));
  registry = await LocalRegistry.start({ storageDir: join(dir, 'registry') });
});

after(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the registry answers on loopback', async () => {
  assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
  const res = await fetch(`${registry.url}/v2/`);
  assert.equal(res.status, 200);
});

test('sample images are pushed and resolvable by tag', async () => {
  const started = Date.now();
  const digests = await sampleImages(registry.host, join(dir, 'build'));
  const elapsed = Date.now() - started;
  for (const [name, digest] of Object.entries(digests)) {
    assert.match(digest, /^sha256:[a-f0-9]{64}$/, name);
  }
  assert.equal(new Set(Object.values(digests)).size, 3);
  assert.equal(await resolveDigest(registry.host, 'warmpod/http', 'latest'), digests.http);
  const manifest = (await (
    await fetch(`${registry.url}/v2/warmpod/http/manifests/${digests.http}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json()) as { layers: Array<{ digest: string }> };
  // busybox base + the /www layer
  assert.equal(manifest.layers.length, 2);
  console.log(`sample images built and pushed in ${elapsed} ms`);
});

test('padding makes a rebuilt image distinct', async () => {
  const opts = { registryHost: registry.host, name: 'warmpod/pad', tag: 'v1', workDir: join(dir, 'build'), cmd: ['true'] };
  const a = await buildImage({ ...opts, padBytes: 1024 });
  const b = await buildImage({ ...opts, padBytes: 1024 });
  assert.notEqual(a, b);
  assert.equal(await resolveDigest(registry.host, 'warmpod/pad', 'v1'), b);
});
