import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildLayeredImage, busyboxLayer, hardCaseLayers, writeTar, zstdCompress, type LayeredImage } from '@warmpod/devkit';
import { ImageCache, type EnsuredImage } from '../image-cache';
import { needsRoot, registryClient } from '../testing/int-fixture';
import { PodHarness } from '../testing/pod-harness';
import { describeTree } from '../testing/tree-digest';
import { LayerStore } from './layer-store';
import { LayerError, unpackLayer } from './unpack-layer';

const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const harness = new PodHarness();
let gzipImage: LayeredImage;
let zstdImage: LayeredImage;
let views = 0;

before(async () => {
  if (needsRoot) return;
  await harness.start('wp-zstd');
  const layers = [await busyboxLayer(), ...hardCaseLayers()];
  const build = (tag: string, compression: Array<'gzip' | 'zstd'>) =>
    buildLayeredImage({
      registryHost: harness.registry.host,
      name: 'warmpod/hard-cases-run',
      tag,
      workDir: join(harness.dir, 'build'),
      layers,
      compression,
    });
  gzipImage = await build(
    'gzip',
    layers.map(() => 'gzip'),
  );
  zstdImage = await build(
    'zstd',
    layers.map(() => 'zstd'),
  );
});
after(() => harness.cleanup.run());

const pinned = (digest: string): string => `${harness.registry.host}/warmpod/hard-cases-run@${digest}`;
const cacheAt = (name: string, zstdCommand?: string): ImageCache =>
  new ImageCache({ dataDir: join(harness.dir, name), registry: registryClient(), logger: harness.logger, zstdCommand });

/** The image's merged root, mounted read-only-in-spirit for a comparison (no pod in it). */
async function view(image: EnsuredImage): Promise<Map<string, string>> {
  const podDir = join(harness.dir, 'views', String(++views));
  harness.cleanup.add(`unmount view ${views}`, () => harness.rootfs.unmount(podDir));
  return describeTree(await harness.rootfs.mount(podDir, image.lowers));
}

test('a zstd image pulls, runs, and its root is exactly the gzip build of the same layers', { skip: needsRoot }, async () => {
  // Two caches: one cache would reuse the gzip build's layer directories (same diff_ids) and never unpack zstd.
  const gz = await cacheAt('cache-gzip').ensure(pinned(gzipImage.digest));
  const zstdCache = cacheAt('cache-zstd');
  const zs = await zstdCache.ensure(pinned(zstdImage.digest));
  const listed = (await zstdCache.list())[0]!;
  assert.equal(listed.layers.length, 6);
  assert.ok(
    listed.layers.every((l) => l.unpackedBytes > 0),
    'zstd layers are measured unpacked too',
  );
  const pod = await harness.runPod(zs, { command: ['sh', '-c'], args: ['cat /usr/local/after; echo; ls /data; cat /bin/tool-hard'] });
  const code = await harness.runtime.waitExit(pod.podId);
  const log = await readFile(pod.logPath, 'utf8');
  assert.equal(code, 0, log);
  assert.match(log, /after the whiteout/);
  assert.match(log, /kept\.txt/);
  assert.doesNotMatch(log, /gone\.txt/);
  assert.match(log, /echo tool/);
  const ours = await view(zs);
  assert.deepEqual(ours, await view(gz));
  assert.ok(ours.has('bin/busybox') && ours.has('usr/local/after') && !ours.has('usr/share'), 'the compared roots are not empty');
});

test('without a zstd program a zstd layer fails the pull with a clear error and leaves nothing', { skip: needsRoot }, async () => {
  const cache = cacheAt('cache-no-zstd', '/nonexistent/zstd');
  await assert.rejects(
    cache.ensure(pinned(zstdImage.digest)),
    (e: Error) =>
      /layer sha256:[a-f0-9]{64} is zstd-compressed and this node has no zstd program \("\/nonexistent\/zstd" not found/.test(e.message) &&
      e.cause instanceof LayerError &&
      !e.cause.refused,
  );
  assert.equal(await cache.has(zstdImage.digest), false);
  assert.deepEqual(await cache.list(), []);
  assert.deepEqual(await readdir(join(harness.dir, 'cache-no-zstd', 'layers')), []);
});

async function zstdLayerFile(name: string, blob: Buffer): Promise<string> {
  const path = join(harness.dir, 'blobs', name);
  await mkdir(join(harness.dir, 'blobs'), { recursive: true });
  await writeFile(path, blob);
  return path;
}

test('a corrupt zstd stream is refused and no partial layer stays', { skip: needsRoot }, async () => {
  // Big enough that zstd has written output before it meets the cut.
  const tar = writeTar([{ name: 'big', content: createHash('sha512').update('seed').digest('hex').repeat(40_000) }]);
  const blob = zstdCompress(tar);
  const cut = blob.subarray(0, blob.length - 64);
  const store = new LayerStore(join(harness.dir, 'store-corrupt'));
  await store.init();
  const layer = { digest: sha(cut), mediaType: ZSTD, diffId: sha(tar), blobPath: await zstdLayerFile('cut', cut) };
  await assert.rejects(
    store.ensure(layer, []),
    (e: unknown) =>
      e instanceof LayerError && e.refused && /layer sha256:[a-f0-9]{64}: zstd stream is corrupt \(zstd exit 1: /.test(e.message),
  );
  assert.deepEqual(await readdir(store.dir), []);
  // Not zstd at all.
  const junk = Buffer.from('this is not a zstd frame');
  const notZstd = { digest: sha(junk), mediaType: ZSTD, diffId: sha(tar), blobPath: await zstdLayerFile('junk', junk) };
  await assert.rejects(store.ensure(notZstd, []), /zstd stream is corrupt/);
  assert.deepEqual(await readdir(store.dir), []);
});

test('a zstd layer checks the blob digest and the diff_id in the one pass', { skip: needsRoot }, async () => {
  const tar = writeTar([{ name: 'f', content: 'x'.repeat(100_000) }]);
  const blob = zstdCompress(tar);
  const wrong = `sha256:${'0'.repeat(64)}`;
  const unpack = async (digest: string, diffId: string) => {
    const dir = join(harness.dir, 'unpack', String(++views));
    await mkdir(dir, { recursive: true });
    return unpackLayer({ source: [blob], mediaType: ZSTD, digest, diffId, dir, lowerDirs: [] });
  };
  assert.deepEqual(await unpack(sha(blob), sha(tar)), { diffBytes: tar.length, entries: 1 });
  await assert.rejects(unpack(wrong, sha(tar)), /layer blob digest mismatch: expected sha256:0{64}, got sha256:/);
  await assert.rejects(unpack(sha(blob), wrong), /diff_id mismatch: config says sha256:0{64}, content is sha256:/);
});
