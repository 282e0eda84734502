import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { type Duplex, PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { LayerError } from './layer-error';
import { applySpecialOps, type SpecialOp } from './special-files';
import { readTar, type TarEntry } from './tar-reader';
import { DEFAULT_ZSTD_COMMAND, zstdDecompressor } from './zstd-stream';

export { LayerError } from './layer-error';

export interface UnpackLayerInput {
  /** The compressed (or plain tar) layer blob. */
  source: Iterable<Buffer> | AsyncIterable<Buffer> | NodeJS.ReadableStream;
  mediaType: string;
  /** Digest of the blob as the manifest names it. */
  digest: string;
  /** The config's diff_id for this layer: digest of the uncompressed tar. */
  diffId: string;
  /** An empty, already created directory the layer is written into. */
  dir: string;
  /** Unpacked directories of the layers below, top first: hard links to their files become copies. */
  lowerDirs: readonly string[];
  /**
   * The source is a blob this process just verified against `digest` while
   * writing it (see streamVerified): hashing it again would only cost CPU.
   */
  blobVerified?: boolean;
  /** The zstd program for zstd-compressed layers (default: `zstd` on the system PATH). */
  zstdCommand?: string;
}

export interface UnpackedLayer {
  /** Bytes of the uncompressed tar. */
  diffBytes: number;
  entries: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export function openBlob(path: string): NodeJS.ReadableStream {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

function decompressor(input: UnpackLayerInput): Duplex {
  const mediaType = input.mediaType;
  if (/gzip$/.test(mediaType)) return createGunzip({ chunkSize: 1 << 18 });
  if (/zstd$/.test(mediaType)) return zstdDecompressor(`layer ${input.digest}`, input.zstdCommand ?? DEFAULT_ZSTD_COMMAND);
  if (/tar$/.test(mediaType)) return new PassThrough();
  throw new LayerError(`layer media type ${mediaType} is not a tar layer`);
}

function hashing(hash: Hash, count: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      count.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

/** "a/b/c" for any spelling of a path inside the layer; refuses absolute paths and "..". */
export function layerPath(raw: string, what: string): string {
  if (raw.startsWith('/')) throw new LayerError(`${what} "${raw}" is an absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new LayerError(`${what} "${raw}" escapes the layer directory ("..")`);
  if (parts.some((p) => p.includes('\0'))) throw new LayerError(`${what} "${raw}" contains a NUL byte`);
  return parts.join('/');
}

/**
 * Streams one layer blob into `dir` in a single pass: the blob digest and the
 * diff_id are both checked on the bytes as they pass, OCI whiteouts become
 * overlayfs whiteouts, ownership, modes, times, xattrs and links are kept.
 * On any failure the caller removes `dir` (it is a temporary directory).
 */
export async function unpackLayer(input: UnpackLayerInput): Promise<UnpackedLayer> {
  const compressed = createHash('sha256');
  const plain = createHash('sha256');
  const counts = { compressed: { bytes: 0 }, plain: { bytes: 0 } };
  const writer = new LayerWriter(input.dir, input.lowerDirs);
  let entries = 0;
  const source = 'pipe' in input.source ? input.source : Readable.from(input.source);
  // A pass-through costs a copy-free hop; hashing it again would cost a full sha256 of the blob.
  const blobHash = input.blobVerified ? new PassThrough() : hashing(compressed, counts.compressed);
  // Checked before any stream starts: an unsupported media type spawns nothing.
  const decompress = decompressor(input);
  await pipeline(source, blobHash, decompress, hashing(plain, counts.plain), async (tarBytes: AsyncIterable<Buffer>) => {
    const it = tarBytes[Symbol.asyncIterator]();
    for await (const { entry, body } of readTar({ [Symbol.asyncIterator]: () => it })) {
      entries++;
      await writer.write(entry, body);
    }
    // Trailing blocks after the end-of-archive marker still count for the diff_id.
    for (let r = await it.next(); !r.done; r = await it.next());
  });
  const digest = input.blobVerified ? input.digest : `sha256:${compressed.digest('hex')}`;
  if (digest !== input.digest) throw new LayerError(`layer blob digest mismatch: expected ${input.digest}, got ${digest}`);
  const diffId = `sha256:${plain.digest('hex')}`;
  if (diffId !== input.diffId)
    throw new LayerError(`layer ${input.digest}: diff_id mismatch: config says ${input.diffId}, content is ${diffId}`);
  await writer.finish();
  return { diffBytes: counts.plain.bytes, entries };
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** Writes tar entries under one directory, refusing anything that would land outside it. */
class LayerWriter {
  private readonly symlinks = new Set<string>();
  private readonly dirs = new Map<string, Meta>();
  private readonly created = new Set<string>();
  private readonly special: SpecialOp[] = [];
  private readonly xattrs: SpecialOp[] = [];
  private readonly specialTimes: Array<{ path: string; mtime: number }> = [];

  constructor(
    private readonly root: string,
    private readonly lowerDirs: readonly string[],
  ) {}

  async write(entry: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = layerPath(entry.name, 'tar entry');
    const at = (p: string): string => (p === '' ? this.root : join(this.root, p));
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    await this.ensureDir(parent, entry.name);
    if (base === OPAQUE) {
      this.xattrs.push({ op: 'xattr', path: at(parent), name: 'trusted.overlay.opaque', value: Buffer.from('y') });
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name.startsWith(WHITEOUT)) return; // other AUFS metadata: not content
      const target = parent === '' ? name : `${parent}/${name}`;
      layerPath(target, 'whiteout');
      await this.clear(target);
      this.special.push({ op: 'mknod', path: at(target), mode: S_IFCHR, major: 0, minor: 0, uid: 0, gid: 0 });
      return;
    }
    if (rel === '' && entry.type !== 'dir') throw new LayerError(`tar entry "${entry.name}" replaces the layer root with a non-directory`);
    const path = at(rel);
    const meta: Meta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    if (entry.type === 'dir') {
      if (!this.dirs.has(rel)) {
        await this.clear(rel);
        await mkdir(path).catch((e: NodeJS.ErrnoException) => (rel === '' || e.code === 'EEXIST' ? undefined : Promise.reject(e)));
      }
      this.dirs.set(rel, meta);
      await lchown(path, meta.uid, meta.gid);
      this.setXattrs(path, entry);
      return;
    }
    await this.clear(rel);
    this.created.add(rel);
    switch (entry.type) {
      case 'file': {
        const handle = await open(path, 'wx', 0o600);
        try {
          for await (const chunk of body) await handle.write(chunk);
        } finally {
          await handle.close();
        }
        await this.applyMeta(path, meta);
        break;
      }
      case 'symlink':
        await symlink(entry.linkname, path);
        this.symlinks.add(rel);
        await lchown(path, meta.uid, meta.gid);
        await lutimes(path, meta.mtime, meta.mtime);
        break;
      case 'hardlink':
        await this.hardlink(entry, path);
        break;
      default: {
        const kind = entry.type === 'chardev' ? S_IFCHR : entry.type === 'blockdev' ? S_IFBLK : S_IFIFO;
        this.special.push({
          op: 'mknod',
          path,
          mode: kind | meta.mode,
          major: entry.devmajor,
          minor: entry.devminor,
          uid: meta.uid,
          gid: meta.gid,
        });
        this.specialTimes.push({ path, mtime: meta.mtime });
      }
    }
    this.setXattrs(path, entry);
  }

  /** Device nodes, xattrs, then directory times deepest first (creating children moved them). */
  async finish(): Promise<void> {
    await applySpecialOps([...this.special, ...this.xattrs]);
    for (const { path, mtime } of this.specialTimes) await utimes(path, mtime, mtime);
    const dirs = [...this.dirs].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [rel, meta] of dirs) await this.applyMeta(rel === '' ? this.root : join(this.root, rel), meta);
  }

  private setXattrs(path: string, entry: TarEntry): void {
    for (const [name, value] of entry.xattrs) {
      // A layer must not forge overlayfs' own bookkeeping (redirects, origins, opaque markers).
      if (name.startsWith('trusted.overlay.')) continue;
      this.xattrs.push({ op: 'xattr', path, name, value });
    }
  }

  private async applyMeta(path: string, meta: Meta): Promise<void> {
    await lchown(path, meta.uid, meta.gid);
    await chmod(path, meta.mode); // after chown, which clears set-id bits
    await utimes(path, meta.mtime, meta.mtime);
  }

  private async hardlink(entry: TarEntry, path: string): Promise<void> {
    const target = layerPath(entry.linkname, `hard link target of "${entry.name}"`);
    this.refuseThroughSymlink(target, `hard link target "${entry.linkname}" of "${entry.name}"`);
    if (this.created.has(target)) {
      await link(join(this.root, target), path);
      return;
    }
    // A link to a file of a lower layer: layers are separate trees, so it becomes a copy.
    for (const lower of this.lowerDirs) {
      const st = await lstat(join(lower, target)).catch(() => undefined);
      if (!st) continue;
      if (!st.isFile()) break;
      await copyFile(join(lower, target), path);
      await this.applyMeta(path, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000 });
      return;
    }
    throw new LayerError(`tar entry "${entry.name}" is a hard link to "${entry.linkname}", which is in neither this layer nor a lower one`);
  }

  /** Creates missing parents; a parent the tar does not list takes a lower layer's metadata (or 0755 root). */
  private async ensureDir(rel: string, entryName: string): Promise<void> {
    this.refuseThroughSymlink(rel === '' ? '' : `${rel}/x`, `tar entry "${entryName}"`);
    if (this.dirs.has(rel)) return;
    const slash = rel.lastIndexOf('/');
    if (rel !== '') await this.ensureDir(slash < 0 ? '' : rel.slice(0, slash), entryName);
    let meta: Meta = { mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    for (const lower of this.lowerDirs) {
      const st = await lstat(rel === '' ? lower : join(lower, rel)).catch(() => undefined);
      if (st?.isDirectory()) {
        meta = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000 };
        break;
      }
      if (st) break;
    }
    if (rel !== '') {
      if (this.created.has(rel)) throw new LayerError(`tar entry "${entryName}" is inside "${rel}", which this layer made a non-directory`);
      await mkdir(join(this.root, rel)).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
    }
    await lchown(rel === '' ? this.root : join(this.root, rel), meta.uid, meta.gid);
    this.dirs.set(rel, meta);
  }

  /** No write may go through a symlink this layer created (the only kind its directory can hold). */
  private refuseThroughSymlink(rel: string, what: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) throw new LayerError(`${what} writes through the symlink "${prefix}"`);
    }
  }

  /** Removes what an earlier entry of this layer put at `rel` (a later entry wins). */
  private async clear(rel: string): Promise<void> {
    if (rel === '' || !(this.created.has(rel) || this.dirs.has(rel))) return;
    await rm(join(this.root, rel), { recursive: true, force: true });
    this.created.delete(rel);
    this.symlinks.delete(rel);
    for (const d of [...this.dirs.keys()]) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
  }
}
