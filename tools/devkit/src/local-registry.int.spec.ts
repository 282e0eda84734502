import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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

/** Pushes a blob (POST then PUT with its digest) to `repo`; returns its digest. */
async function pushBlob(repo: string, body: Buffer): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const started = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location')!, registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  return { digest, size: body.length };
}

/** An untagged OCI artifact (config + one layer), pushed by digest as checkpoints are. */
async function pushArtifact(repo: string): Promise<{ manifest: string; layer: string }> {
  const config = await pushBlob(repo, Buffer.from(JSON.stringify({ id: randomBytes(8).toString('hex') })));
  const layer = await pushBlob(repo, randomBytes(4096));
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.warmpod.checkpoint.v1',
      config: { mediaType: 'application/vnd.warmpod.checkpoint.config.v1+json', ...config },
      layers: [{ mediaType: 'application/octet-stream', ...layer }],
    }),
  );
  const manifest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const put = await fetch(`${registry.url}/v2/${repo}/manifests/${manifest}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(put.status, 201, await put.text());
  return { manifest, layer: layer.digest };
}

test("garbage collection frees a deleted artifact's blobs, keeps untagged artifacts that are not deleted, and serves again on the same address", async () => {
  const repo = 'warmpod-checkpoints/t-gc';
  const gone = await pushArtifact(repo);
  const kept = await pushArtifact(repo);
  // Distribution 2.8 answers 404 for an OCI manifest unless the request accepts OCI manifests.
  const status = async (path: string) =>
    (
      await fetch(`${registry.url}/v2/${repo}/${path}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).status;
  assert.equal((await fetch(`${registry.url}/v2/${repo}/manifests/${gone.manifest}`, { method: 'DELETE' })).status, 202);
  assert.equal(await status(`blobs/${gone.layer}`), 200, 'a manifest delete alone frees nothing');
  const host = registry.host;

  const { blobsDeleted } = await registry.garbageCollect();
  assert.equal(registry.host, host);
  assert.ok(blobsDeleted >= 2, `the deleted artifact's config and layer went (${blobsDeleted})`);
  assert.equal(await status(`blobs/${gone.layer}`), 404);
  assert.equal(await status(`manifests/${kept.manifest}`), 200, 'an untagged artifact that was not deleted stays');
  assert.equal(await status(`blobs/${kept.layer}`), 200);
  assert.equal(await resolveDigest(registry.host, 'warmpod/http', 'latest').then(Boolean), true, 'tagged images stay');
});
