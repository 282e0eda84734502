import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IMAGES_MANIFEST, imagesDamage, writeImagesManifest } from './images-manifest';

async function imagesDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  // A subdir, as a checkpoint's criu/: the verification record is written beside it.
  const parent = await mkdtemp(join(tmpdir(), 'images-manifest-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const dir = join(parent, 'criu');
  await mkdir(dir);
  await writeFile(join(dir, 'inventory.img'), 'inventory');
  await writeFile(join(dir, 'pages-1.img'), Buffer.alloc(3 * 4096, 7));
  await writeFile(join(dir, 'descriptors.json'), '["pipe:[1]","pipe:[2]","pipe:[3]"]');
  await writeImagesManifest(dir);
  return dir;
}

test('images manifest: intact images pass; images without a manifest are not judged', async (t) => {
  const dir = await imagesDir(t);
  assert.equal(await imagesDamage(dir), undefined);
  await unlink(join(dir, IMAGES_MANIFEST));
  await truncate(join(dir, 'pages-1.img'), 4096);
  assert.equal(await imagesDamage(dir), undefined);
});

test('images manifest: a truncated, changed or missing image is reported', async (t) => {
  const dir = await imagesDir(t);
  await truncate(join(dir, 'pages-1.img'), 4096);
  assert.equal(await imagesDamage(dir), 'pages-1.img has 4096 bytes, 12288 were written');

  const changed = await imagesDir(t);
  await writeFile(join(changed, 'inventory.img'), 'Inventory');
  assert.equal(await imagesDamage(changed), 'inventory.img differs from what was written (sha256)');

  const missing = await imagesDir(t);
  await unlink(join(missing, 'inventory.img'));
  assert.equal(await imagesDamage(missing), 'inventory.img is missing');

  const garbage = await imagesDir(t);
  await writeFile(join(garbage, IMAGES_MANIFEST), '{');
  assert.equal(await imagesDamage(garbage), `${IMAGES_MANIFEST} is unreadable`);
});
