import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarSpecEntry } from '@warmpod/devkit';
import { needsRoot } from '../testing/int-fixture';
import { describeTree } from '../testing/tree-digest';
import { LayerError } from './layer-error';
import { LayerStore } from './layer-store';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wp-unpack-thread-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** A gzip layer blob written to disk, with its digest and diff_id. */
async function layerBlob(name: string, entries: TarSpecEntry[]) {
  const tar = writeTar(entries);
  const blob = gzipSync(tar);
  const blobPath = join(root, `${name}.blob`);
  await writeFile(blobPath, blob);
  return { blobPath, digest: sha(blob), diffId: sha(tar), mediaType: GZIP };
}

const entries: TarSpecEntry[] = [
  { name: 'etc', type: 'dir', mode: 0o750, uid: 7, gid: 8, mtime: 1_500_000_000 },
  { name: 'etc/conf', content: 'a=1\n', mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_400_000_000, xattrs: { 'user.k': 'v' } },
  { name: 'etc/hard', type: 'hardlink', linkname: 'etc/conf' },
  { name: 'etc/sym', type: 'symlink', linkname: '../nowhere' },
  { name: 'data/big', content: Buffer.alloc(3 << 20, 7) },
  { name: 'data/.wh.gone' },
  { name: 'run/fifo', type: 'fifo', mode: 0o600 },
];

test('a layer unpacked on a worker thread is the same tree as one unpacked in the process', { skip: needsRoot }, async () => {
  const layer = await layerBlob('same', entries);
  const threaded = new LayerStore(join(root, 'threaded'), { threadMinBytes: 0 });
  const inline = new LayerStore(join(root, 'inline'), { threadMinBytes: Number.MAX_SAFE_INTEGER });
  for (const store of [threaded, inline]) {
    await store.init();
    await store.ensure(layer, []);
  }
  const a = await describeTree(threaded.path(layer.diffId));
  assert.deepEqual(a, await describeTree(inline.path(layer.diffId)));
  // The cases are really in the tree (two empty trees would compare equal too).
  assert.match(a.get('etc/conf') ?? '', /^file 4755 1000:1001 /);
  assert.equal(a.get('etc/hard'), a.get('etc/conf'));
  assert.ok(a.has('data/gone'), 'the whiteout is there');
  assert.ok((await threaded.diskBytes(layer.diffId)) >= 3 << 20);
});

test('a layer refused on the worker thread is a refused LayerError here, and nothing is left', { skip: needsRoot }, async () => {
  const good = await layerBlob('refused', entries);
  const store = new LayerStore(join(root, 'refused'), { threadMinBytes: 0 });
  await store.init();
  const wrongDiffId = `sha256:${'0'.repeat(64)}`;
  await assert.rejects(store.ensure({ ...good, diffId: wrongDiffId }, []), (error: unknown) => {
    assert.ok(error instanceof LayerError);
    assert.equal(error.refused, true);
    assert.match(error.message, /diff_id mismatch: config says sha256:0{64}, content is sha256:[0-9a-f]{64}/);
    return true;
  });
  const escaping = await layerBlob('escaping', [{ name: '../outside', content: 'x' }]);
  await assert.rejects(store.ensure(escaping, []), /tar entry "\.\.\/outside" escapes the layer directory/);
  assert.deepEqual(await readdir(store.dir), [], 'no partial layer, no size record');
});

test("a worker that cannot start fails the unpack as this node's trouble, leaving nothing", { skip: needsRoot }, async () => {
  const layer = await layerBlob('no-worker', entries);
  const store = new LayerStore(join(root, 'no-worker'), { threadMinBytes: 0, workerScript: join(root, 'missing-worker.js') });
  await store.init();
  await assert.rejects(store.ensure(layer, []), (error: unknown) => {
    assert.ok(error instanceof LayerError);
    assert.equal(error.refused, false, 'a retry may help: the layer itself was never read');
    assert.match(error.message, /unpack worker failed: Cannot find module/);
    return true;
  });
  assert.deepEqual(await readdir(store.dir), []);
});

test("a zstd layer on a node without the zstd program fails on the worker thread as the node's trouble", { skip: needsRoot }, async () => {
  const layer = await layerBlob('zstd-missing', entries);
  const store = new LayerStore(join(root, 'zstd-missing'), { threadMinBytes: 0, zstdCommand: join(root, 'no-such-zstd') });
  await store.init();
  await assert.rejects(store.ensure({ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, []), (error: unknown) => {
    assert.ok(error instanceof LayerError);
    assert.equal(error.refused, false);
    assert.match(error.message, /no-such-zstd/);
    return true;
  });
  assert.deepEqual(await readdir(store.dir), []);
});
