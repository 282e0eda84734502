import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MEDIA } from '@warmpod/registry';
import { ImageCache, ociArchitecture, type PullProgress } from './image-cache';
import {
  buildImage,
  Cleanup,
  elapsedMs,
  needsRoot,
  registryClient,
  sampleImages,
  SAMPLE_REPOSITORIES,
  testLogger,
  type LocalRegistry,
  type SampleImageDigests,
  startScratchRegistry,
} from './testing/int-fixture';
import { exists } from './files';
import { allocatedBytes } from './layers/layer-store';

const cleanup = new Cleanup();
let dir: string;
let registry: LocalRegistry;
let samples: SampleImageDigests;
let cache: ImageCache;

const pinned = (repository: string, digest: string): string => `${registry.host}/${repository}@${digest}`;
const layoutDir = (): string => join(dir, 'cache', 'layout');
const blobs = async (): Promise<string[]> => (await readdir(join(layoutDir(), 'blobs', 'sha256'))).sort();

before(async () => {
  if (needsRoot) return;
  ({ dir, registry } = await startScratchRegistry('wp-cache-int', cleanup));
  samples = await sampleImages(registry.host, join(dir, 'build'));
  cache = new ImageCache({ dataDir: join(dir, 'cache'), registry: registryClient(), logger: testLogger() });
});

after(() => cleanup.run());

test('a cold ensure pulls, unpacks and reports progress', { skip: needsRoot }, async () => {
  const events: PullProgress[] = [];
  const started = process.hrtime.bigint();
  const image = await cache.ensure(pinned(SAMPLE_REPOSITORIES.hello, samples.hello), (p) => events.push(p));
  const ms = elapsedMs(started);
  assert.equal(image.alreadyCached, false);
  assert.equal(image.digest, samples.hello);
  const last = events.at(-1)!;
  assert.equal(last.bytesDone, last.bytesTotal);
  assert.equal(last.layersDone, last.layersTotal);
  assert.equal(image.bytesFetched, last.bytesTotal);
  assert.ok(await exists(join(image.bundleDir, 'config.json')));
  assert.ok(await exists(join(image.lowers.dir, image.lowers.names.at(-1)!, 'bin', 'busybox')), 'the base layer is unpacked');
  assert.deepEqual(image.imageConfig.config?.Cmd?.slice(0, 2), ['sh', '-c']);
  const index = JSON.parse(await readFile(join(layoutDir(), 'index.json'), 'utf8')) as {
    manifests: Array<{ annotations: Record<string, string> }>;
  };
  assert.deepEqual(
    index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']),
    [samples.hello.slice(7)],
  );
  console.log(`ensure cold: ${ms.toFixed(1)} ms for ${image.bytesFetched} bytes`);
});

test('a second ensure is a cache hit that fetches nothing', { skip: needsRoot }, async () => {
  const started = process.hrtime.bigint();
  const image = await cache.ensure(pinned(SAMPLE_REPOSITORIES.hello, samples.hello));
  const ms = elapsedMs(started);
  assert.equal(image.alreadyCached, true);
  assert.equal(image.bytesFetched, 0);
  assert.equal(await cache.has(samples.hello), true);
  console.log(`ensure warm: ${ms.toFixed(2)} ms`);
});

test('a layer shared between images is fetched once', { skip: needsRoot }, async () => {
  const events: PullProgress[] = [];
  const image = await cache.ensure(pinned(SAMPLE_REPOSITORIES.http, samples.http), (p) => events.push(p));
  const first = events[0]!;
  // The busybox base layer was already there from the hello image.
  assert.equal(first.layersDone, 1);
  assert.ok(first.bytesDone > 500_000);
  assert.equal(image.bytesFetched, first.bytesTotal - first.bytesDone);
  const entries = await cache.list();
  const hello = entries.find((e) => e.digest === samples.hello)!;
  const http = entries.find((e) => e.digest === samples.http)!;
  assert.deepEqual(hello.layers[0], http.layers[0]);
  assert.ok(hello.layers[0]!.sizeBytes > 0, 'layer sizes are reported');
});

test('list counts each layer at what it takes unpacked on disk, measured once and recorded beside it', { skip: needsRoot }, async () => {
  const layersDir = join(dir, 'cache', 'layers');
  const hello = (await cache.list()).find((e) => e.digest === samples.hello)!;
  for (const l of hello.layers) {
    assert.equal(l.unpackedBytes, await allocatedBytes(join(layersDir, l.diffId.slice(7))), `layer ${l.diffId} is measured on disk`);
  }
  const base = hello.layers[0]!;
  assert.ok(base.unpackedBytes > base.sizeBytes, 'the busybox layer takes more unpacked than compressed');
  assert.equal(hello.diskBytes, hello.sizeBytes + hello.layers.reduce((s, l) => s + l.unpackedBytes, 0));
  // A layer unpacked by an earlier version (no size recorded) is measured when an agent started since
  // lists it (a running cache reads an image's files once), and the measure kept.
  const sizeFile = join(layersDir, `.size-${base.diffId.slice(7)}`);
  await rm(sizeFile);
  const restarted = new ImageCache({ dataDir: join(dir, 'cache'), registry: registryClient(), logger: testLogger() });
  assert.deepEqual(
    (await restarted.list()).find((e) => e.digest === samples.hello),
    hello,
  );
  assert.ok(await exists(sizeFile));
});

test('concurrent ensures of one digest share one pull', { skip: needsRoot }, async () => {
  const digest = await buildImage({
    registryHost: registry.host,
    name: 'warmpod/pad',
    tag: 'v1',
    workDir: join(dir, 'build'),
    cmd: ['true'],
    padBytes: 200_000,
  });
  const [a, b] = await Promise.all([cache.ensure(pinned('warmpod/pad', digest)), cache.ensure(pinned('warmpod/pad', digest))]);
  assert.equal(a, b);
  assert.equal(a.alreadyCached, false);
  assert.ok(a.bytesFetched > 200_000);
});

test('an index is narrowed to this node architecture', { skip: needsRoot }, async () => {
  const workDir = join(dir, 'build');
  const mine = await buildImage({ registryHost: registry.host, name: 'warmpod/multi', tag: 'mine', workDir, cmd: ['echo', 'mine'] });
  const other = await buildImage({ registryHost: registry.host, name: 'warmpod/multi', tag: 'other', workDir, cmd: ['echo', 'other'] });
  const descriptor = async (digest: string, architecture: string): Promise<object> => {
    const res = await fetch(`${registry.url}/v2/warmpod/multi/manifests/${digest}`, { headers: { Accept: MEDIA.ociManifest } });
    const size = (await res.arrayBuffer()).byteLength;
    return { mediaType: MEDIA.ociManifest, digest, size, platform: { os: 'linux', architecture } };
  };
  const foreign = ociArchitecture() === 's390x' ? 'riscv64' : 's390x';
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [await descriptor(other, foreign), await descriptor(mine, ociArchitecture())],
  });
  const put = await fetch(`${registry.url}/v2/warmpod/multi/manifests/index`, {
    method: 'PUT',
    headers: { 'Content-Type': MEDIA.ociIndex },
    body,
  });
  assert.equal(put.status, 201);
  const indexDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const image = await cache.ensure(pinned('warmpod/multi', indexDigest));
  assert.equal(image.digest, indexDigest);
  assert.deepEqual(image.imageConfig.config?.Cmd, ['echo', 'mine']);
  assert.ok((await cache.list()).some((e) => e.digest === indexDigest));
});

test('references with a tag are refused', { skip: needsRoot }, async () => {
  await assert.rejects(cache.ensure(`${registry.host}/warmpod/hello:latest`), /not a pinned reference/);
  await assert.rejects(cache.ensure(`${registry.host}/warmpod/hello:latest@${samples.hello}`), /carries a tag/);
});

test('remove drops the image and its own blobs, keeping shared ones', { skip: needsRoot }, async () => {
  const before = (await cache.list()).find((e) => e.digest === samples.hello)!;
  const sharedLayer = before.layers[0]!.digest.slice(7);
  await cache.remove(samples.hello);
  assert.equal(await cache.has(samples.hello), false);
  assert.equal(
    (await cache.list()).some((e) => e.digest === samples.hello),
    false,
  );
  assert.ok((await blobs()).includes(sharedLayer), 'the layer http still uses stays');
  assert.equal((await blobs()).includes(samples.hello.slice(7)), false, 'the manifest goes');
  const layerNames = await readdir(join(dir, 'cache', 'layers'));
  const sizes = layerNames.filter((n) => n.startsWith('.size-')).map((n) => n.slice('.size-'.length));
  assert.deepEqual(sizes.sort(), layerNames.filter((n) => /^[a-f0-9]{64}$/.test(n)).sort(), 'a removed layer takes its size record along');
  await cache.remove(samples.hello);
  const again = await cache.ensure(pinned(SAMPLE_REPOSITORIES.hello, samples.hello));
  assert.equal(again.alreadyCached, false);
  assert.ok(again.bytesFetched < 100_000, 'only the config and manifest are fetched again');
});

test('a pull against a stopped registry fails and leaves nothing in the cache', { skip: needsRoot }, async () => {
  const digest = await buildImage({
    registryHost: registry.host,
    name: 'warmpod/pad',
    tag: 'v2',
    workDir: join(dir, 'build'),
    cmd: ['true'],
    padBytes: 1000,
  });
  const blobsBefore = await blobs();
  const listBefore = await cache.list();
  const indexBefore = await readFile(join(layoutDir(), 'index.json'), 'utf8');
  await registry.stop();
  await assert.rejects(cache.ensure(pinned('warmpod/pad', digest)), /pull image failed: .*did not answer/);
  assert.equal(await cache.has(digest), false);
  assert.deepEqual(await cache.list(), listBefore);
  assert.deepEqual(await blobs(), blobsBefore);
  assert.equal(await readFile(join(layoutDir(), 'index.json'), 'utf8'), indexBefore);
  const unpacked = await readdir(join(dir, 'cache', 'unpacked'));
  assert.deepEqual(
    unpacked.filter((n) => !/^[a-f0-9]{64}$/.test(n)),
    [],
  );
});
