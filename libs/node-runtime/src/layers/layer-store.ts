import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError } from '../command';
import { exists, randomSuffix } from '../files';
import { digestHex } from '../oci-layout';
import { LayerError, openBlob, unpackLayer } from './unpack-layer';

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

/**
 * One directory per layer, named by its diff_id, shared by every image that
 * has the layer. A layer is unpacked into a temporary directory and renamed
 * into place, so a directory under its final name is always complete.
 */
export class LayerStore {
  private readonly unpacks = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  path(diffId: string): string {
    return join(this.dir, digestHex(diffId));
  }

  /** Creates the store; removes what a crash mid-unpack or mid-remove left. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.tmp-') || name.startsWith('.trash-')) await rm(join(this.dir, name), { recursive: true, force: true });
    }
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
    if (moved) await rm(trash, { recursive: true, force: true });
  }

  private async unpackOnce(layer: LayerToUnpack, lowerDirs: readonly string[]): Promise<void> {
    const target = this.path(layer.diffId);
    if (await exists(target)) return;
    const tmp = join(this.dir, `.tmp-${digestHex(layer.diffId)}-${randomSuffix()}`);
    await mkdir(tmp);
    try {
      await unpackLayer({
        source: openBlob(layer.blobPath),
        mediaType: layer.mediaType,
        digest: layer.digest,
        diffId: layer.diffId,
        dir: tmp,
        lowerDirs,
        blobVerified: layer.blobVerified,
      });
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
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
