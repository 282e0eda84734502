import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../files';
import { forgetVerified, identities, recordVerified, unchangedSinceVerified } from './images-verified';

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
  const names = await imageFiles(imagesDir);
  const hashed = await identities(imagesDir, names);
  for (const name of names) {
    const path = join(imagesDir, name);
    const { size } = await stat(path);
    files[name] = { size, sha256: await sha256(path, size) };
  }
  await writeFileAtomic(join(imagesDir, IMAGES_MANIFEST), JSON.stringify({ version: 1, files } satisfies ImagesManifest));
  // These hashes are a verification of the files as they are now: recorded, so the first restore need not hash them again.
  const manifest = await identities(imagesDir, [IMAGES_MANIFEST]);
  // Best effort: without a record the next restore only verifies in full.
  if (hashed !== undefined && manifest !== undefined) await recordVerified(imagesDir, { ...manifest, ...hashed }).catch(() => false);
}

/**
 * What is wrong with the images compared with their manifest: missing, extra
 * (ignored), resized or changed files. Undefined when they match, or when
 * there is no manifest (images not written by RuncCheckpointer). CRIU 3.17
 * does not always fail on damaged images: a truncated pages-*.img makes its
 * restorer spin until the restore times out.
 */
export async function imagesDamage(imagesDir: string): Promise<string | undefined> {
  return (await checkImages(imagesDir)).damage;
}

export interface ImagesCheck {
  damage?: string;
  /** Whether the files were hashed (false: no manifest, or unchanged since a recorded verification). */
  hashed: boolean;
  /** Unchanged since a recorded verification: not hashed. */
  unchanged?: true;
}

/**
 * `imagesDamage` with the verification cache of images-verified.ts: files
 * unchanged since their last full verification are not hashed again; any
 * change or a missing record means a full verification, recorded when it
 * passes. `nowNs` (wall clock, ns) only for tests of the racy-file rule.
 */
export async function checkImagesCached(imagesDir: string, nowNs?: bigint): Promise<ImagesCheck> {
  const names = await manifestNames(imagesDir);
  if (names === undefined) return checkImages(imagesDir);
  if (await unchangedSinceVerified(imagesDir, names)) return { hashed: false, unchanged: true };
  await forgetVerified(imagesDir);
  const startedNs = nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const before = await identities(imagesDir, names);
  const check = await checkImages(imagesDir);
  if (check.damage === undefined && before !== undefined) await recordVerified(imagesDir, before, startedNs).catch(() => false);
  return check;
}

/** The manifest and every file it lists; undefined without a readable manifest. */
async function manifestNames(imagesDir: string): Promise<string[] | undefined> {
  const text = await readFile(join(imagesDir, IMAGES_MANIFEST), 'utf8').catch(() => undefined);
  const parsed = text === undefined ? undefined : manifestSchema.safeParse(safeJson(text));
  return parsed?.success ? [IMAGES_MANIFEST, ...Object.keys(parsed.data.files).sort()] : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function checkImages(imagesDir: string): Promise<ImagesCheck> {
  const text = await readFile(join(imagesDir, IMAGES_MANIFEST), 'utf8').catch(() => undefined);
  if (text === undefined) return { hashed: false };
  const parsed = manifestSchema.safeParse(safeJson(text));
  if (!parsed.success) return { damage: `${IMAGES_MANIFEST} is unreadable`, hashed: false };
  const manifest: ImagesManifest = parsed.data;
  for (const [name, want] of Object.entries(manifest.files)) {
    const path = join(imagesDir, name);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) return { damage: `${name} is missing`, hashed: true };
    if (size !== want.size) return { damage: `${name} has ${size} bytes, ${want.size} were written`, hashed: true };
    if ((await sha256(path, size)) !== want.sha256) return { damage: `${name} differs from what was written (sha256)`, hashed: true };
  }
  return { hashed: true };
}
