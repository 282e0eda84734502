import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { exists, Mutex, writeFileAtomic } from './files';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

const layoutDescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type LayoutDescriptor = z.infer<typeof layoutDescriptorSchema>;

const layoutIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  manifests: z.array(layoutDescriptorSchema),
});
type LayoutIndex = z.infer<typeof layoutIndexSchema>;

const SHA256_HEX = /^[a-f0-9]{64}$/;

export function digestHex(digest: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : '';
  if (!SHA256_HEX.test(hex)) throw new Error(`"${digest}" is not a sha256 digest`);
  return hex;
}

/**
 * An OCI image layout on disk (the format umoci reads): content-addressed
 * blobs plus an index.json naming the images in it. index.json is only ever
 * replaced atomically, and read-modify-write cycles are serialised.
 */
export class OciLayout {
  private readonly indexLock = new Mutex();

  constructor(readonly dir: string) {}

  get indexPath(): string {
    return join(this.dir, 'index.json');
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const marker = join(this.dir, 'oci-layout');
    if (!(await exists(marker))) await writeFileAtomic(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await this.indexLock.run(async () => {
      if (!(await exists(this.indexPath))) await this.writeIndex({ schemaVersion: 2, manifests: [] });
    });
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  readBlob(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /** Stores bytes already in memory (manifests), refusing ones that do not match their digest. */
  async writeBlob(digest: string, bytes: Buffer): Promise<void> {
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) throw new Error(`blob content hashes to ${actual}, expected ${digest}`);
    if (await this.hasBlob(digest)) return;
    await writeFileAtomic(this.blobPath(digest), bytes, 0o644);
  }

  async removeBlob(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  /** Digests of complete blobs; in-progress downloads carry a suffix and are skipped. */
  async blobDigests(): Promise<string[]> {
    const names = await readdir(join(this.dir, 'blobs', 'sha256')).catch(() => []);
    return names.filter((n) => SHA256_HEX.test(n)).map((n) => `sha256:${n}`);
  }

  async refs(): Promise<LayoutDescriptor[]> {
    return (await this.readIndex()).manifests;
  }

  async findRef(name: string): Promise<LayoutDescriptor | undefined> {
    return (await this.refs()).find((d) => d.annotations?.[REF_NAME_ANNOTATION] === name);
  }

  /** Points `name` at `descriptor`, replacing an earlier entry of that name. */
  putRef(name: string, descriptor: { mediaType: string; digest: string; size: number }): Promise<void> {
    return this.indexLock.run(async () => {
      const index = await this.readIndex();
      index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
      index.manifests.push({
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: { [REF_NAME_ANNOTATION]: name },
      });
      await this.writeIndex(index);
    });
  }

  dropRef(name: string): Promise<void> {
    return this.indexLock.run(async () => {
      const index = await this.readIndex();
      const kept = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
      if (kept.length === index.manifests.length) return;
      await this.writeIndex({ ...index, manifests: kept });
    });
  }

  private async readIndex(): Promise<LayoutIndex> {
    return layoutIndexSchema.parse(JSON.parse(await readFile(this.indexPath, 'utf8')));
  }

  private async writeIndex(index: LayoutIndex): Promise<void> {
    await writeFileAtomic(this.indexPath, JSON.stringify(index));
  }
}
