import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { runCommand } from '../command';
import { NodeRuntimeError, quietLogger } from '../errors';
import { randomSuffix } from '../files';

export interface WritableLayerArchiveOptions {
  logger?: Logger;
  tarPath?: string;
  /** A big writable layer takes a while; the default is 10 minutes. */
  timeoutMs?: number;
}

/**
 * Flags shared by both directions. `--xattrs --xattrs-include=*` keeps every
 * extended attribute, overlayfs' own included (`trusted.overlay.opaque` marks
 * a directory that hides the image's; tar keeps only `user.*` on extraction
 * otherwise). `--numeric-owner` keeps uids as numbers: the container's users
 * are not the host's. Whiteouts (character devices 0/0) are stored as devices.
 */
const COMMON = ['--xattrs', '--xattrs-include=*', '--numeric-owner'];

/**
 * A pod's writable layer (its overlay upperdir) as one tar file, so the files
 * a process wrote before its checkpoint come back with the restored process.
 */
export class WritableLayerArchive {
  private readonly logger: Logger;
  private readonly tar: string;
  private readonly timeoutMs: number;

  constructor(opts: WritableLayerArchiveOptions = {}) {
    this.logger = opts.logger ?? quietLogger();
    this.tar = opts.tarPath ?? 'tar';
    this.timeoutMs = opts.timeoutMs ?? 600_000;
  }

  /**
   * Archives `upperDir` into `archivePath` (written beside it, then renamed:
   * the file is complete or absent). The upperdir may stay mounted; pause the
   * container around this call for a layer that matches the CRIU images exactly.
   */
  async archive(upperDir: string, archivePath: string): Promise<{ sizeBytes: number; ms: number }> {
    const started = Date.now();
    const target = resolve(archivePath);
    const tmp = `${target}.tmp-${randomSuffix()}`;
    try {
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await runCommand(
        this.tar,
        ['--create', '--file', tmp, '--format=posix', ...COMMON, '--sparse', '--one-file-system', '--directory', resolve(upperDir), '.'],
        { timeoutMs: this.timeoutMs },
      );
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw new NodeRuntimeError('archive writable layer', `${upperDir}: ${messageOf(error)}`, undefined, { cause: error });
    }
    const { size } = await stat(target);
    const ms = Date.now() - started;
    this.logger.debug({ upperDir, archivePath: target, sizeBytes: size, ms }, 'writable layer archived');
    return { sizeBytes: size, ms };
  }

  /**
   * Unpacks an archive into a new pod's upperdir, which must be empty (or
   * absent) and NOT yet mounted: overlayfs does not allow changing an upper
   * layer under a mounted overlay. Mount the pod's rootfs after this.
   */
  async unpack(archivePath: string, upperDir: string): Promise<{ ms: number }> {
    const started = Date.now();
    const target = resolve(upperDir);
    let extracting = false;
    try {
      await mkdir(target, { recursive: true });
      if ((await readdir(target)).length > 0) throw new Error('the upper directory is not empty');
      extracting = true;
      await runCommand(
        this.tar,
        ['--extract', '--file', resolve(archivePath), ...COMMON, '--same-owner', '--preserve-permissions', '--directory', target],
        { timeoutMs: this.timeoutMs },
      );
    } catch (error) {
      // A fallback run must not start on half a layer: leave the directory as empty as it was.
      if (extracting) await emptyDir(target);
      throw new NodeRuntimeError('unpack writable layer', `${archivePath} into ${upperDir}: ${messageOf(error)}`, undefined, {
        cause: error,
      });
    }
    const ms = Date.now() - started;
    this.logger.debug({ archivePath, upperDir: target, ms }, 'writable layer unpacked');
    return { ms };
  }
}

async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    await rm(join(dir, name), { recursive: true, force: true, maxRetries: 3 });
  }
}
