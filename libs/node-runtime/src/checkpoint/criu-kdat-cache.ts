import { rm, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { runCommand } from '../command';
import { quietLogger } from '../errors';
import { isMountPoint } from '../mountinfo';

export interface CriuKdatCacheOptions {
  /** An agent-owned directory that holds the cache file (bind-mounted from here). */
  dir: string;
  /** The criu CRIU runs as (a wrapper is fine); defaults to `criu` on PATH. */
  criuPath?: string;
  logger?: Logger;
  /** Where this CRIU build reads its cache (KDAT_RUNDIR/criu.kdat); only tests change it. */
  kdatPath?: string;
}

/** How restores on this node get CRIU's kernel-feature cache. */
export type KdatCacheState = 'criu-keeps-it' | 'provided' | 'provided-by-another' | 'unavailable';

const KDAT_PATH = '/run/criu.kdat';
const TMPFS_MAGIC = 0x01021994;
/**
 * In a private mount namespace whose /run is a fresh tmpfs, `criu check`
 * detects the kernel's features and saves its cache there; the cache is
 * copied out to "$1". Nothing of it is visible outside that namespace.
 */
const GENERATE = 'mount -t tmpfs -o size=1m,mode=0755 warmpod-kdat /run && { "$0" check >/dev/null 2>&1; cp /run/criu.kdat "$1"; }';

/**
 * Under the caller's lock: binds "$0" (the cache) read-only onto "$1" unless
 * something is mounted there already; says `created` when it made the empty
 * target file, `mounted` when it bound.
 */
const BIND =
  'if mountpoint -q "$1"; then exit 0; fi; ' +
  '[ -e "$1" ] || { : >"$1" && chmod 600 "$1" && echo created; }; ' +
  'mount --bind "$0" "$1" && { mount -o remount,bind,ro "$1" || { umount "$1"; exit 1; }; } && echo mounted';

/**
 * CRIU spends a few hundred ms of every dump and restore detecting kernel
 * features unless it finds its cache (/run/criu.kdat), which it only writes
 * when /run is a tmpfs (so that a reboot into another kernel drops it). On a
 * host whose /run is not a tmpfs this provides the cache: generated once per
 * agent start, kept in the agent's directory and bind-mounted read-only onto
 * /run/criu.kdat. The bind mount goes with a reboot; the empty file it leaves
 * is what CRIU calls stale and removes. `release` undoes what `provide` did.
 */
export class CriuKdatCache {
  private readonly logger: Logger;
  private readonly kdatPath: string;
  private mounted = false;
  private createdTarget = false;

  constructor(private readonly opts: CriuKdatCacheOptions) {
    this.logger = opts.logger ?? quietLogger();
    this.kdatPath = opts.kdatPath ?? KDAT_PATH;
  }

  async provide(): Promise<KdatCacheState> {
    const runDir = resolve(this.kdatPath, '..');
    try {
      if ((await statfs(runDir)).type === TMPFS_MAGIC) return 'criu-keeps-it';
      if (await isMountPoint(this.kdatPath)) {
        // Ours from before a restart of this agent: take it back, so this agent's stop removes it.
        if (await this.mountIsOwn()) {
          this.mounted = true;
          return 'provided';
        }
        // Another local node on this host did it already (same kernel, same boot): share it.
        return 'provided-by-another';
      }
      const cache = this.cacheFile();
      await rm(cache, { force: true });
      await runCommand('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', GENERATE, this.opts.criuPath ?? 'criu', cache], {
        timeoutMs: 60_000,
      });
      if (!((await stat(cache)).size > 0)) throw new Error('criu wrote an empty cache');
      // Local nodes start together: the check and the mount hold a lock on the directory, so two
      // agents never stack their mounts (the lower one would outlive both).
      const { stdout } = await runCommand('flock', [runDir, 'sh', '-c', BIND, cache, this.kdatPath], { timeoutMs: 30_000 });
      const outcome = stdout.trim().split('\n');
      this.createdTarget = outcome.includes('created');
      if (!outcome.includes('mounted')) return 'provided-by-another';
      this.mounted = true;
      this.logger.info({ kdat: this.kdatPath }, "CRIU's kernel-feature cache provided");
      return 'provided';
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, "no CRIU kernel-feature cache: every dump and restore detects the kernel's features");
      await this.release();
      return 'unavailable';
    }
  }

  /**
   * For a sweep after this node's agent died: unmounts the cache if it is
   * this node's (its file bound there), whatever agent mounted it.
   */
  async releaseIfOwn(): Promise<void> {
    if ((await isMountPoint(this.kdatPath)) && (await this.mountIsOwn())) this.mounted = true;
    await this.release();
  }

  private cacheFile(): string {
    return join(resolve(this.opts.dir), 'criu.kdat');
  }

  /** Whether the file bound at the kdat path is this node's cache file (same device and inode). */
  private async mountIsOwn(): Promise<boolean> {
    const [bound, own] = await Promise.all([stat(this.kdatPath).catch(() => undefined), stat(this.cacheFile()).catch(() => undefined)]);
    return bound !== undefined && own !== undefined && bound.dev === own.dev && bound.ino === own.ino;
  }

  /** Unmounts and removes what `provide` created; safe to call twice. */
  async release(): Promise<void> {
    if (this.mounted) {
      await runCommand('umount', [this.kdatPath]).catch((e: unknown) =>
        this.logger.warn({ err: messageOf(e) }, 'kdat cache unmount failed'),
      );
      this.mounted = false;
    }
    if (this.createdTarget && !(await isMountPoint(this.kdatPath))) {
      await rm(this.kdatPath, { force: true });
      this.createdTarget = false;
    }
    await rm(this.cacheFile(), { force: true });
  }
}
