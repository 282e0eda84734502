import { mkdir, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { runCommand } from './command';
import { NodeRuntimeError, quietLogger } from './errors';
import { isMountPoint } from './mountinfo';

export interface PodRootfsOptions {
  logger?: Logger;
}

/** overlayfs option strings are comma- and colon-separated: such paths cannot be passed. */
const UNSAFE_OVERLAY_PATH = /[,:\s\\]/;

/** An image's layer directories: `names` (top layer first) relative to `dir`. */
export interface ImageLowers {
  dir: string;
  names: readonly string[];
}

/**
 * A pod's root filesystem: an overlay whose lower layers are the cached
 * image's layer directories (shared, never written; or one plain directory)
 * and whose upper layer lives in the pod's
 * directory, so each pod's writes stay its own (and can be checkpointed).
 */
export class PodRootfs {
  private readonly logger: Logger;

  constructor(opts: PodRootfsOptions = {}) {
    this.logger = opts.logger ?? quietLogger();
  }

  static mergedDir(podDir: string): string {
    return join(resolve(podDir), 'merged');
  }

  /** Mounts the overlay and returns the merged directory; mounting twice is a no-op. */
  async mount(podDir: string, lowers: string | ImageLowers): Promise<string> {
    const dir = resolve(podDir);
    // Relative names keep a deep image's option string within the page the kernel reads.
    const cwd = typeof lowers === 'string' ? undefined : resolve(lowers.dir);
    const lower = typeof lowers === 'string' ? resolve(lowers) : lowers.names.join(':');
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const merged = PodRootfs.mergedDir(dir);
    const names = typeof lowers === 'string' ? [lower] : [resolve(lowers.dir), ...lowers.names];
    for (const path of [...names, upper, work]) {
      if (UNSAFE_OVERLAY_PATH.test(path)) {
        throw new NodeRuntimeError('mount pod rootfs', `path "${path}" contains a character overlayfs options cannot carry`);
      }
    }
    await Promise.all([upper, work, merged].map((p) => mkdir(p, { recursive: true })));
    // mountinfo lists real paths: compare against the resolved one.
    const target = await realpath(merged);
    if (await isMountPoint(target)) return merged;
    try {
      await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target], { cwd });
    } catch (error) {
      throw new NodeRuntimeError('mount pod rootfs', `overlay on ${merged}: ${messageOf(error)}`, undefined, { cause: error });
    }
    this.logger.debug({ merged, lower: cwd ?? lower }, 'pod rootfs mounted');
    return merged;
  }

  /** Unmounts the overlay; an already unmounted (or never mounted) one is fine. */
  async unmount(podDir: string): Promise<void> {
    const merged = await realpath(PodRootfs.mergedDir(podDir)).catch(() => undefined);
    if (merged === undefined || !(await isMountPoint(merged))) return;
    try {
      await runCommand('umount', [merged]);
    } catch (error) {
      // Raced with another unmount: the goal is reached all the same.
      if (!(await isMountPoint(merged))) return;
      throw new NodeRuntimeError('unmount pod rootfs', `${merged}: ${messageOf(error)}`, undefined, { cause: error });
    }
    this.logger.debug({ merged }, 'pod rootfs unmounted');
  }
}
