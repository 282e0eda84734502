import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CachedImages } from './cached-images';
import { writeImageBundle } from './layers/image-bundle';
import { digestHex, OciLayout } from './oci-layout';

const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** A layout holding one image of `layers` layers, with its bundle; returns the image digest. */
async function addImage(layout: OciLayout, unpackedDir: string, tag: string, layers: number): Promise<string> {
  const layerDescs = Array.from({ length: layers }, (_, i) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: sha(`${tag}-blob-${i}`),
    size: 100 + i,
  }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(`${tag}-config`), size: 10 },
      layers: layerDescs,
    }),
  );
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  await layout.writeBlob(digest, manifest);
  await layout.putRef(digestHex(digest), { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length });
  const bundleLayers = layerDescs.map((_, i) => ({ diffId: sha(`${tag}-diff-${i}`), dir: join(unpackedDir, '..', 'layers', String(i)) }));
  await writeImageBundle(join(unpackedDir, digestHex(digest)), bundleLayers, {});
  return digest;
}

describe('CachedImages', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warmpod-cached-images-'));
  after(() => rm(dir, { recursive: true, force: true }));

  async function setUp(name: string) {
    const layout = new OciLayout(join(dir, name, 'layout'));
    const unpackedDir = join(dir, name, 'unpacked');
    await layout.init();
    await mkdir(unpackedDir, { recursive: true });
    const measured: string[] = [];
    const layers = {
      diskBytes: async (diffId: string) => {
        measured.push(diffId);
        return 1000;
      },
    };
    return { layout, unpackedDir, measured, images: new CachedImages(layout, unpackedDir, layers) };
  }

  test('lists each cached image with its layers, sizes and disk bytes', async () => {
    const { layout, unpackedDir, images } = await setUp('list');
    const digest = await addImage(layout, unpackedDir, 'a', 2);
    const [entry, ...rest] = await images.list();
    assert.equal(rest.length, 0);
    assert.equal(entry?.digest, digest);
    assert.deepEqual(
      entry?.layers.map((l) => [l.digest, l.sizeBytes, l.diffId, l.unpackedBytes]),
      [
        [sha('a-blob-0'), 100, sha('a-diff-0'), 1000],
        [sha('a-blob-1'), 101, sha('a-diff-1'), 1000],
      ],
    );
    const manifestSize = (await layout.refs())[0]!.size;
    assert.equal(entry?.sizeBytes, manifestSize + 10 + 100 + 101);
    assert.equal(entry?.diskBytes, entry!.sizeBytes + 2000);
  });

  test("an image's files are read once; which images are there is read on every call", async () => {
    const { layout, unpackedDir, measured, images } = await setUp('once');
    const a = await addImage(layout, unpackedDir, 'a', 2);
    await images.list();
    // The manifest blob gone: a second list that read it again would fail.
    await layout.removeBlob(a);
    assert.deepEqual(
      (await images.list()).map((e) => e.digest),
      [a],
    );
    assert.equal(measured.length, 2, 'each layer measured once');
    const b = await addImage(layout, unpackedDir, 'b', 1);
    assert.deepEqual((await images.list()).map((e) => e.digest).sort(), [a, b].sort());
    await layout.dropRef(digestHex(a));
    assert.deepEqual(
      (await images.list()).map((e) => e.digest),
      [b],
    );
  });

  test('a forgotten image, or one whose bundle is gone, is read again when it is back', async () => {
    const { layout, unpackedDir, measured, images } = await setUp('forget');
    const a = await addImage(layout, unpackedDir, 'a', 1);
    await images.list();
    images.forget(a);
    await images.list();
    assert.equal(measured.length, 2);
    await rm(join(unpackedDir, digestHex(a)), { recursive: true });
    assert.deepEqual(await images.list(), []);
  });

  test('concurrent lists share one read of a new image', async () => {
    const { layout, unpackedDir, measured, images } = await setUp('shared');
    await addImage(layout, unpackedDir, 'a', 3);
    const [one, two] = await Promise.all([images.list(), images.list()]);
    assert.deepEqual(one, two);
    assert.equal(measured.length, 3);
  });

  test('a bundle whose layers do not match its manifest is left out and not kept', async () => {
    const { layout, unpackedDir, images } = await setUp('mismatch');
    const a = await addImage(layout, unpackedDir, 'a', 2);
    await rm(join(unpackedDir, digestHex(a)), { recursive: true });
    await writeImageBundle(join(unpackedDir, digestHex(a)), [{ diffId: sha('x'), dir: join(unpackedDir, 'x') }], {});
    assert.deepEqual(await images.list(), []);
    await rm(join(unpackedDir, digestHex(a)), { recursive: true });
    await writeImageBundle(
      join(unpackedDir, digestHex(a)),
      [0, 1].map((i) => ({ diffId: sha(`a-diff-${i}`), dir: join(unpackedDir, String(i)) })),
      {},
    );
    assert.deepEqual(
      (await images.list()).map((e) => e.digest),
      [a],
    );
  });
});
