import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError } from '../command';
import { exists, randomSuffix, readOwnJson, writeFileAtomic } from '../files';
import { digestHex } from '../oci-layout';
import { LayerError, openBlob, unpackLayer, type UnpackedLayer } from './unpack-layer';
import type { UnpackJob } from './unpack-job';
import { unpackInThread } from './unpack-thread';

export interface LayerToUnpack {
  /** Blob digest, as the manifest names it. */
  digest: string;
  mediaType: string;
  /** The config's diff_id: the layer directory's name. */
  diffId: string;
  /** Where the verified blob is. */
  blobPath: string;
  /** This process verified the blob's digest as it wrote it: the unpack checks the diff_id only. */
  blobVerified?: boolean;
}

const layerSizeSchema = z.object({ diskBytes: z.number().int().nonnegative() });

/** Layers from this size (compressed) up unpack on a worker thread; smaller ones are not worth a thread's start. */
export const DEFAULT_THREAD_MIN_BYTES = 4 * 2 ** 20;

export interface LayerStoreOptions {
  /** The zstd program for zstd-compressed layers. */
  zstdCommand?: string;
  /** Blobs of at least this many bytes are unpacked on a worker thread (default 4 MiB; 0: all of them). */
  threadMinBytes?: number;
  /** The worker thread's script (default: the one beside this file). */
  workerScript?: string;
}

/**
 * Bytes a directory tree takes on disk (like `du -B1`): allocated blocks, a
 * file hard-linked several times counted once.
 */
export async function allocatedBytes(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const st = await lstat(dir);
    total += st.blocks * 512;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
        continue;
      }
      const file = await lstat(path);
      if (file.nlink > 1) {
        const key = `${file.dev}:${file.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += file.blocks * 512;
    }
  }
  return total;
}

/**
 * One directory per layer, named by its diff_id, shared by every image that
 * has the layer. A layer is unpacked into a temporary directory and renamed
 * into place, so a directory under its final name is always complete. Beside
 * it, `.size-<hex>` records what the unpacked layer takes on disk (the budget
 * counts that, not the compressed blob).
 */
export class LayerStore {
  private readonly unpacks = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly opts: LayerStoreOptions = {},
  ) {}

  path(diffId: string): string {
    return join(this.dir, digestHex(diffId));
  }

  private sizePath(diffId: string): string {
    return join(this.dir, `.size-${digestHex(diffId)}`);
  }

  /** Creates the store; removes what a crash mid-unpack or mid-remove left. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = new Set(await readdir(this.dir));
    for (const name of names) {
      const orphanSize = name.startsWith('.size-') && !names.has(name.slice('.size-'.length));
      if (name.startsWith('.tmp-') || name.startsWith('.trash-') || name.includes('.tmp-') || orphanSize) {
        await rm(join(this.dir, name), { recursive: true, force: true });
      }
    }
  }

  /**
   * Bytes the unpacked layer takes on disk, as measured when it was unpacked
   * (measured now, and recorded, for a layer unpacked by an earlier version).
   */
  async diskBytes(diffId: string): Promise<number> {
    const recorded = await readOwnJson(this.sizePath(diffId), layerSizeSchema);
    if (recorded) return recorded.diskBytes;
    const measured = await allocatedBytes(this.path(diffId));
    await writeFileAtomic(this.sizePath(diffId), JSON.stringify({ diskBytes: measured }));
    return measured;
  }

  has(diffId: string): Promise<boolean> {
    return exists(this.path(diffId));
  }

  /** The diff_ids of the layers present. */
  async list(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /**
   * Unpacks the layer unless it is there; concurrent calls for one layer share
   * one unpack. `lowerDirs` are the layers below it, top first.
   */
  ensure(layer: LayerToUnpack, lowerDirs: readonly string[]): Promise<void> {
    const running = this.unpacks.get(layer.diffId);
    if (running) return running;
    const task = this.unpackOnce(layer, lowerDirs).finally(() => this.unpacks.delete(layer.diffId));
    this.unpacks.set(layer.diffId, task);
    return task;
  }

  /** A layer being unpacked right now: garbage collection must keep it. */
  busy(diffId: string): boolean {
    return this.unpacks.has(diffId);
  }

  async remove(diffId: string): Promise<void> {
    const trash = join(this.dir, `.trash-${digestHex(diffId)}-${randomSuffix()}`);
    const moved = await rename(this.path(diffId), trash).then(
      () => true,
      () => false,
    );
    await rm(this.sizePath(diffId), { force: true });
    if (moved) await rm(trash, { recursive: true, force: true });
  }

  /** A large layer on a worker thread, a small one here. */
  private async unpackInto(dir: string, layer: LayerToUnpack, lowerDirs: readonly string[]): Promise<UnpackedLayer> {
    const job: UnpackJob = {
      blobPath: layer.blobPath,
      mediaType: layer.mediaType,
      digest: layer.digest,
      diffId: layer.diffId,
      dir,
      lowerDirs: [...lowerDirs],
      blobVerified: layer.blobVerified ?? false,
      ...(this.opts.zstdCommand ? { zstdCommand: this.opts.zstdCommand } : {}),
    };
    if ((await stat(layer.blobPath)).size >= (this.opts.threadMinBytes ?? DEFAULT_THREAD_MIN_BYTES)) {
      return unpackInThread(job, this.opts.workerScript);
    }
    const { blobPath, ...input } = job;
    return unpackLayer({ ...input, source: openBlob(blobPath) });
  }

  private async unpackOnce(layer: LayerToUnpack, lowerDirs: readonly string[]): Promise<void> {
    const target = this.path(layer.diffId);
    if (await exists(target)) return;
    const tmp = join(this.dir, `.tmp-${digestHex(layer.diffId)}-${randomSuffix()}`);
    await mkdir(tmp);
    try {
      await this.unpackInto(tmp, layer, lowerDirs);
      // Recorded before the rename: a layer under its final name always has its size beside it.
      await writeFileAtomic(this.sizePath(layer.diffId), JSON.stringify({ diskBytes: await allocatedBytes(tmp) }));
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      if (!(await exists(target))) await rm(this.sizePath(layer.diffId), { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      // Another store instance on the same directory finished first: same content.
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(target))) return;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new LayerError(`disk full while unpacking layer ${layer.digest}: the partial layer was removed`, {
          cause: error,
          refused: false,
        });
      }
      if (error instanceof LayerError) throw error;
      // A failed system call (or the helper process) is this node's trouble; anything else
      // (a malformed tar, a corrupt gzip stream) is the layer's content and will not change.
      const local = typeof (error as NodeJS.ErrnoException).syscall === 'string' || error instanceof CommandError;
      throw new LayerError(`layer ${layer.digest}: ${(error as Error).message}`, { cause: error, refused: !local });
    }
  }
}
