import assert from 'node:assert/strict';
import { chmod, chown, link, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exists } from '../files';
import { needsRoot, removeDir, tempDir } from '../testing/int-fixture';
import { PodRootfs } from '../pod-rootfs';
import { CheckpointStore } from './checkpoint-store';
import { WritableLayerArchive } from './writable-layer-archive';

let dir: string;
before(async () => {
  dir = await tempDir('wp-ckpt-store');
});
after(async () => {
  const rootfs = new PodRootfs();
  for (const pod of ['pod-a', 'pod-b']) await rootfs.unmount(join(dir, pod)).catch(() => undefined);
  await removeDir(dir);
});

const META = { key: `ck1-${'e'.repeat(64)}`, digest: `sha256:${'d'.repeat(64)}`, podId: 'pod-src' };
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** What a real checkpoint writes: CRIU images (sparse pages included) and the layer archive. */
async function fillDraft(imagesDir: string, layerArchivePath: string): Promise<void> {
  await mkdir(imagesDir, { mode: 0o700 });
  await writeFile(join(imagesDir, 'inventory.img'), Buffer.alloc(100, 1));
  await writeFile(join(imagesDir, 'pages-1.img'), Buffer.alloc(64 * 1024, 2));
  await writeFile(layerArchivePath, Buffer.alloc(10 * 1024, 3));
}

describe('CheckpointStore on disk', () => {
  test('a committed checkpoint appears whole under <tenant>/<id>, mode 0700, with its size', async () => {
    const store = new CheckpointStore({ dataDir: join(dir, 'data1') });
    const draft = await store.begin('acme', 'ckpt-1');
    assert.equal(await exists(join(store.root, 'acme', 'ckpt-1')), false, 'nothing under the id while writing');
    assert.equal(await mode(draft.dir), 0o700);
    await fillDraft(draft.imagesDir, draft.layerArchivePath);
    const stored = await draft.commit(META, new Date('2026-11-01T00:00:00Z'));
    assert.equal(stored.dir, join(store.root, 'acme', 'ckpt-1'));
    assert.ok(stored.sizeBytes >= 74 * 1024, `size ${stored.sizeBytes} counts the files`);
    assert.equal(stored.createdAt, '2026-11-01T00:00:00.000Z');
    for (const path of [store.root, join(store.root, 'acme'), stored.dir, stored.imagesDir]) assert.equal(await mode(path), 0o700, path);
    assert.equal(await exists(draft.dir), false);
    assert.deepEqual(await store.get('acme', 'ckpt-1'), stored);
    assert.deepEqual(await store.list(), [stored]);
    assert.equal(await store.totalBytes(), stored.sizeBytes);
    await assert.rejects(store.begin('acme', 'ckpt-1'), /checkpoint acme\/ckpt-1 already exists/);
  });

  test('an aborted or incomplete checkpoint leaves nothing behind', async () => {
    const store = new CheckpointStore({ dataDir: join(dir, 'data2') });
    const aborted = await store.begin('acme', 'ckpt-a');
    await fillDraft(aborted.imagesDir, aborted.layerArchivePath);
    await aborted.abort();
    await aborted.abort();
    const incomplete = await store.begin('acme', 'ckpt-b');
    await mkdir(incomplete.imagesDir);
    await assert.rejects(
      incomplete.commit(META),
      /commit checkpoint for pod pod-src failed: acme\/ckpt-b: the draft holds no writable-layer archive/,
    );
    assert.deepEqual(await readdir(join(store.root, 'acme')), []);
    assert.deepEqual(await store.list(), []);
  });

  test('delete removes a checkpoint at once; drafts left by a crash are swept; unsafe names are refused', async () => {
    const store = new CheckpointStore({ dataDir: join(dir, 'data3') });
    const draft = await store.begin('acme', 'ckpt-1');
    await fillDraft(draft.imagesDir, draft.layerArchivePath);
    await draft.commit(META);
    assert.equal(await store.delete('acme', 'ckpt-1'), true);
    assert.equal(await store.delete('acme', 'ckpt-1'), false);
    assert.equal(await store.get('acme', 'ckpt-1'), undefined);

    const crashed = await store.begin('other', 'ckpt-2');
    await fillDraft(crashed.imagesDir, crashed.layerArchivePath);
    assert.equal(await store.removeAbandoned(), 1);
    assert.deepEqual(await readdir(join(store.root, 'other')), []);

    for (const bad of ['../etc', '.staging-x', 'a/b', '']) {
      await assert.rejects(store.begin(bad, 'ckpt-3'), /is not a safe name/);
      await assert.rejects(store.begin('acme', bad), /is not a safe name/);
    }
  });

  test('the tenant directory is forced to 0700 even when it existed with another mode', async () => {
    const store = new CheckpointStore({ dataDir: join(dir, 'data4') });
    await mkdir(join(store.root, 'acme'), { recursive: true, mode: 0o755 });
    await chmod(join(store.root, 'acme'), 0o755);
    await (await store.begin('acme', 'ckpt-1')).abort();
    assert.equal(await mode(join(store.root, 'acme')), 0o700);
  });

  test('a read error other than ENOENT is an error, not an absent checkpoint', async () => {
    const store = new CheckpointStore({ dataDir: join(dir, 'data5') });
    const draft = await store.begin('acme', 'ckpt-1');
    await fillDraft(draft.imagesDir, draft.layerArchivePath);
    await draft.commit(META);
    // meta.json replaced by a directory: reading it fails with EISDIR, as a disk error would fail it with EIO.
    const meta = join(store.root, 'acme', 'ckpt-1', 'meta.json');
    await rm(meta);
    await mkdir(meta);
    await assert.rejects(store.get('acme', 'ckpt-1'), /read checkpoint.*EISDIR/);
    assert.equal(await store.get('acme', 'ckpt-2'), undefined, 'a checkpoint that is not there is absent');
  });
});

describe('WritableLayerArchive on a real overlay', { skip: needsRoot }, () => {
  test('round trip keeps files, modes, owners, links, deletions (whiteouts) and replaced directories (opaque)', async () => {
    const rootfs = new PodRootfs();
    const lower = join(dir, 'lower');
    await mkdir(join(lower, 'etc/app'), { recursive: true });
    await writeFile(join(lower, 'etc/app/a.conf'), 'lower a');
    await writeFile(join(lower, 'etc/app/b.conf'), 'lower b');
    await writeFile(join(lower, 'deleted.txt'), 'lower only');
    await writeFile(join(lower, 'kept.txt'), 'lower kept');

    // The pod writes through its overlay, as the container would.
    const podA = join(dir, 'pod-a');
    const merged = await rootfs.mount(podA, lower);
    await rm(join(merged, 'deleted.txt'));
    await rm(join(merged, 'etc/app'), { recursive: true });
    await mkdir(join(merged, 'etc/app'));
    await writeFile(join(merged, 'etc/app/new.conf'), 'replaced dir');
    await mkdir(join(merged, 'data'));
    await writeFile(join(merged, 'data/state.bin'), Buffer.from([0, 1, 2, 3]));
    await chmod(join(merged, 'data/state.bin'), 0o640);
    await chown(join(merged, 'data/state.bin'), 1234, 5678);
    await chmod(join(merged, 'data'), 0o2750);
    await symlink('/data/state.bin', join(merged, 'state-link'));
    await link(join(merged, 'data/state.bin'), join(merged, 'data/hard.bin'));
    await rootfs.unmount(podA);

    const archive = new WritableLayerArchive();
    const tarPath = join(dir, 'layer.tar');
    const { sizeBytes } = await archive.archive(join(podA, 'upper'), tarPath);
    assert.ok(sizeBytes > 0);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('layer.tar.tmp')),
      [],
      'no temporary file left',
    );

    // A new pod: unpack into its empty upperdir, then mount on the same image.
    const podB = join(dir, 'pod-b');
    await archive.unpack(tarPath, join(podB, 'upper'));
    const restored = await rootfs.mount(podB, lower);
    assert.equal(await exists(join(restored, 'deleted.txt')), false, 'whiteout hides the lower file');
    assert.deepEqual((await readdir(join(restored, 'etc/app'))).sort(), ['new.conf'], 'opaque dir hides the lower contents');
    assert.equal(await readFile(join(restored, 'kept.txt'), 'utf8'), 'lower kept');
    const state = await stat(join(restored, 'data/state.bin'));
    assert.deepEqual([state.mode & 0o7777, state.uid, state.gid, state.nlink], [0o640, 1234, 5678, 2]);
    assert.equal((await stat(join(restored, 'data'))).mode & 0o7777, 0o2750);
    assert.equal(await readlink(join(restored, 'state-link')), '/data/state.bin');
    assert.equal((await stat(join(restored, 'data/hard.bin'))).ino, state.ino, 'hard link kept');
    await rootfs.unmount(podB);

    await assert.rejects(archive.unpack(tarPath, join(podB, 'upper')), /unpack writable layer .* the upper directory is not empty/);
    await mkdir(join(dir, 'pod-c'));
    await assert.rejects(archive.unpack(join(dir, 'no-such.tar'), join(dir, 'pod-c', 'upper')), /unpack writable layer/);
    assert.deepEqual(await readdir(join(dir, 'pod-c', 'upper')), [], 'a failed unpack leaves the upper dir empty');
  });
});
