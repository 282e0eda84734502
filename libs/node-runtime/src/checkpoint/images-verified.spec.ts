import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkImagesCached, writeImagesManifest } from './images-manifest';
import { verifiedRecordPath } from './images-verified';

async function imagesDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'images-verified-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const dir = join(parent, 'criu');
  await mkdir(dir);
  await writeFile(join(dir, 'inventory.img'), 'inventory');
  await writeFile(join(dir, 'pages-1.img'), Buffer.alloc(3 * 4096, 7));
  await writeImagesManifest(dir);
  return dir;
}

/** The files were just written: a verification "started" 2 s later is not racy (the rule is tested below). */
const later = (): bigint => (BigInt(Date.now()) + 2000n) * 1_000_000n;

test('verification cache: the hashes of the manifest count as a verification; untouched images are not hashed again', async (t) => {
  const dir = await imagesDir(t);
  assert.deepEqual(await checkImagesCached(dir), { hashed: false, unchanged: true });
  await rm(verifiedRecordPath(dir));
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: true });
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: false, unchanged: true });
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: false, unchanged: true });
  // The record lives beside the images dir, never in it (its files travel in the registry artifact).
  assert.ok(verifiedRecordPath(dir).endsWith('criu.verified.json'));
  await readFile(verifiedRecordPath(dir));
});

test('verification cache: a file changed after caching is hashed again and caught', async (t) => {
  const truncated = await imagesDir(t);
  await checkImagesCached(truncated, later());
  await truncate(join(truncated, 'pages-1.img'), 4096);
  assert.deepEqual(await checkImagesCached(truncated, later()), {
    damage: 'pages-1.img has 4096 bytes, 12288 were written',
    hashed: true,
  });
  // A failed verification leaves no record: the next one hashes again.
  await assert.rejects(readFile(verifiedRecordPath(truncated)), { code: 'ENOENT' });

  // Same size, mtime set back: ctime still moves.
  const rewritten = await imagesDir(t);
  await checkImagesCached(rewritten, later());
  const path = join(rewritten, 'inventory.img');
  const { atime, mtime } = await stat(path);
  await writeFile(path, 'Inventory');
  await utimes(path, atime, mtime);
  assert.deepEqual(await checkImagesCached(rewritten, later()), {
    damage: 'inventory.img differs from what was written (sha256)',
    hashed: true,
  });

  // Replaced by rename (a new inode), even with the same bytes: hashed again, and passes.
  const replaced = await imagesDir(t);
  await checkImagesCached(replaced, later());
  await copyFile(join(replaced, 'pages-1.img'), join(replaced, 'pages-1.img.new'));
  await rename(join(replaced, 'pages-1.img.new'), join(replaced, 'pages-1.img'));
  assert.deepEqual(await checkImagesCached(replaced, later()), { hashed: true });
});

test('verification cache: a missing or unreadable record means a full verification', async (t) => {
  const dir = await imagesDir(t);
  await checkImagesCached(dir, later());
  await writeFile(verifiedRecordPath(dir), '{');
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: true });
  await rm(verifiedRecordPath(dir));
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: true });
  assert.deepEqual(await checkImagesCached(dir, later()), { hashed: false, unchanged: true });
});

test('verification cache: files changed just before the verification are not cached (racy timestamps)', async (t) => {
  const dir = await imagesDir(t);
  await rm(verifiedRecordPath(dir));
  assert.deepEqual(await checkImagesCached(dir), { hashed: true });
  assert.deepEqual(await checkImagesCached(dir), { hashed: true }, 'written within the last second: hashed again');
});
