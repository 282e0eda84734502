import assert from 'node:assert/strict';
import { mkdir, readdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildLayeredImage, hardCaseLayers, type LayeredImage, type TarSpecEntry } from '@warmpod/devkit';
import { runCommand } from '../command';
import { ImageCache } from '../image-cache';
import { PodRootfs } from '../pod-rootfs';
import { Cleanup, needsRoot, registryClient, testLogger, type LocalRegistry, startScratchRegistry } from '../testing/int-fixture';
import { describeTree } from '../testing/tree-digest';

const cleanup = new Cleanup();
let dir: string;
let registry: LocalRegistry;
let hard: LayeredImage;
const rootfs = new PodRootfs();
const pinned = (name: string, digest: string): string => `${registry.host}/${name}@${digest}`;

before(async () => {
  if (needsRoot) return;
  ({ dir, registry } = await startScratchRegistry('wp-hard-cases', cleanup));
  hard = await buildLayeredImage({
    registryHost: registry.host,
    name: 'warmpod/hard-cases',
    tag: 'v1',
    workDir: join(dir, 'build'),
    layers: hardCaseLayers(),
  });
});
after(() => cleanup.run());

async function mountImage(image: Awaited<ReturnType<ImageCache['ensure']>>, pod: string): Promise<string> {
  const podDir = join(dir, 'pods', pod);
  cleanup.add(`mount ${pod}`, () => rootfs.unmount(podDir));
  return rootfs.mount(podDir, image.lowers);
}

test('the merged root of the hard-case image is exactly what umoci unpack gives', { skip: needsRoot }, async () => {
  const cache = new ImageCache({ dataDir: join(dir, 'cache'), registry: registryClient(), logger: testLogger() });
  const image = await cache.ensure(pinned('warmpod/hard-cases', hard.digest));
  const merged = await mountImage(image, 'hard');
  const bundle = join(dir, 'umoci-bundle');
  await runCommand('umoci', ['unpack', '--image', `${hard.layoutDir}:${hard.ref}`, bundle], { timeoutMs: 120_000 });
  const ours = await describeTree(merged);
  const theirs = await describeTree(join(bundle, 'rootfs'));
  assert.deepEqual(ours, theirs);
  // The cases are really there (a comparison of two empty trees would pass too).
  assert.equal(ours.has('data/gone.txt'), false);
  assert.deepEqual(
    [...ours.keys()].filter((p) => p.startsWith('data/replaced/')),
    ['data/replaced/new'],
  );
  assert.equal(ours.has('usr/share'), false);
  assert.match(ours.get('opt/conf') ?? '', /^file 600 1000:1000 /);
  assert.equal(ours.get('bin/tool-hard'), ours.get('bin/tool'));
});

test(
  'a rebuild sharing all but its top layer unpacks that layer alone; removing an image keeps shared layers',
  { skip: needsRoot },
  async () => {
    const layers = hardCaseLayers();
    const rebuilt = await buildLayeredImage({
      registryHost: registry.host,
      name: 'warmpod/hard-cases',
      tag: 'v2',
      workDir: join(dir, 'build'),
      layers: [...layers.slice(0, -1), [{ name: 'usr/local/after', content: 'changed in the rebuild' }]],
    });
    const cache = new ImageCache({ dataDir: join(dir, 'cache'), registry: registryClient(), logger: testLogger() });
    const first = await cache.ensure(pinned('warmpod/hard-cases', hard.digest));
    // Layer directories only: each has its `.size-<hex>` record beside it.
    const layerDirs = async (): Promise<string[]> =>
      (await readdir(join(dir, 'cache', 'layers'))).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort();
    const before = await layerDirs();
    const second = await cache.ensure(pinned('warmpod/hard-cases', rebuilt.digest));
    const afterPull = await layerDirs();
    assert.equal(afterPull.length, before.length + 1, 'one new layer directory');
    const real = (img: typeof first) => Promise.all(img.lowers.names.map((n) => realpath(join(img.lowers.dir, n))));
    assert.deepEqual((await real(second)).slice(1), (await real(first)).slice(1), 'the lower layers are the same directories');
    await cache.remove(first.digest);
    const afterRemove = await layerDirs();
    assert.equal(afterRemove.length, before.length, "only the removed image's own layer went");
    assert.ok(afterRemove.every((d) => afterPull.includes(d)));
    for (const d of await real(second)) assert.ok(afterRemove.includes(d.split('/').at(-1)!), 'every layer of the kept image stays');
  },
);

test('an image deeper than an absolute lowerdir list allows still mounts (short links)', { skip: needsRoot }, async () => {
  const depth = 120;
  const layers: TarSpecEntry[][] = Array.from({ length: depth }, (_, i) => [{ name: `deep/f${i}`, content: String(i) }]);
  layers.push([{ name: 'deep/.wh.f0' }]);
  const deep = await buildLayeredImage({
    registryHost: registry.host,
    name: 'warmpod/deep',
    tag: 'v1',
    workDir: join(dir, 'build'),
    layers,
  });
  // A long data directory: 121 absolute layer paths would not fit the page overlayfs options get.
  const cache = new ImageCache({ dataDir: join(dir, 'd'.repeat(120), 'cache'), registry: registryClient(), logger: testLogger() });
  const image = await cache.ensure(pinned('warmpod/deep', deep.digest));
  const merged = await mountImage(image, 'deep');
  const files = await readdir(join(merged, 'deep'));
  assert.equal(files.length, depth - 1);
  assert.ok(!files.includes('f0') && files.includes('f119'));
});

test('a layer that fills the disk fails the pull with a clear error and leaves no partial layer', { skip: needsRoot }, async () => {
  const big = await buildLayeredImage({
    registryHost: registry.host,
    name: 'warmpod/too-big',
    tag: 'v1',
    workDir: join(dir, 'build'),
    layers: [[{ name: 'zeros', content: Buffer.alloc(16 << 20) }]],
  });
  const small = join(dir, 'small-disk');
  await mkdir(small);
  await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
  cleanup.add('small disk', () => runCommand('umount', [small]).then(() => undefined));
  const cache = new ImageCache({ dataDir: small, registry: registryClient(), logger: testLogger() });
  const ref = pinned('warmpod/too-big', big.digest);
  await assert.rejects(cache.ensure(ref), /disk full while unpacking layer sha256:[a-f0-9]{64}: the partial layer was removed/);
  assert.equal(await cache.has(big.digest), false);
  assert.deepEqual(await cache.list(), []);
  assert.deepEqual(await readdir(join(small, 'layers')), []);
  assert.deepEqual(await readdir(join(small, 'unpacked')), []);
});

test('what an agent killed mid-unpack leaves is swept at the next start', { skip: needsRoot }, async () => {
  const data = join(dir, 'killed');
  // Exactly what an unpack leaves when the process dies: a temporary layer and bundle directory.
  await mkdir(join(data, 'layers', `.tmp-${'a'.repeat(64)}-0123`, 'half'), { recursive: true });
  await writeFile(join(data, 'layers', `.tmp-${'a'.repeat(64)}-0123`, 'half', 'file'), 'partial');
  await mkdir(join(data, 'unpacked', `${'b'.repeat(64)}.tmp-0123`, 'lower'), { recursive: true });
  const cache = new ImageCache({ dataDir: data, registry: registryClient(), logger: testLogger() });
  assert.deepEqual(await cache.list(), []);
  assert.deepEqual(await readdir(join(data, 'layers')), []);
  assert.deepEqual(await readdir(join(data, 'unpacked')), []);
  const image = await cache.ensure(pinned('warmpod/hard-cases', hard.digest));
  assert.equal(image.alreadyCached, false);
});
