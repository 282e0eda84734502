import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../files';

/** Written by RuncCheckpointer.checkpoint beside the CRIU images (CRIU and runc ignore files they do not know). */
export const IMAGES_MANIFEST = 'warmpod-images.json';

const manifestSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string(), z.object({ size: z.number().int().nonnegative(), sha256: z.string() })),
});
type ImagesManifest = z.infer<typeof manifestSchema>;

const READ_WHOLE_BYTES = 16 * 1024 * 1024;

async function sha256(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  // Most image files are small: one read each is much cheaper than a stream (which counts on a slow node).
  if (size <= READ_WHOLE_BYTES) return hash.update(await readFile(path)).digest('hex');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function imageFiles(imagesDir: string): Promise<string[]> {
  const entries = await readdir(imagesDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name !== IMAGES_MANIFEST)
    .map((e) => e.name)
    .sort();
}

/** Records the size and sha256 of every image file, so that a damaged checkpoint is refused before CRIU reads it. */
export async function writeImagesManifest(imagesDir: string): Promise<void> {
  const files: ImagesManifest['files'] = {};
  for (const name of await imageFiles(imagesDir)) {
    const path = join(imagesDir, name);
    const { size } = await stat(path);
    files[name] = { size, sha256: await sha256(path, size) };
  }
  await writeFileAtomic(join(imagesDir, IMAGES_MANIFEST), JSON.stringify({ version: 1, files } satisfies ImagesManifest));
}

/**
 * What is wrong with the images compared with their manifest: missing, extra
 * (ignored), resized or changed files. Undefined when they match, or when
 * there is no manifest (images not written by RuncCheckpointer). CRIU 3.17
 * does not always fail on damaged images: a truncated pages-*.img makes its
 * restorer spin until the restore times out.
 */
export async function imagesDamage(imagesDir: string): Promise<string | undefined> {
  const text = await readFile(join(imagesDir, IMAGES_MANIFEST), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let manifest: ImagesManifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(text));
  } catch {
    return `${IMAGES_MANIFEST} is unreadable`;
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const path = join(imagesDir, name);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) return `${name} is missing`;
    if (size !== want.size) return `${name} has ${size} bytes, ${want.size} were written`;
    if ((await sha256(path, size)) !== want.sha256) return `${name} differs from what was written (sha256)`;
  }
  return undefined;
}
