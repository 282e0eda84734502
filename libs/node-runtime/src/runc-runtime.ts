import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from './command';
import { NodeRuntimeError } from './errors';
import { exists } from './files';
import { readMounts } from './mountinfo';
import { readExitCode, readPid, readTail } from './shim-files';
import { WaitTimeoutError, watchDirUntil } from './watch-dir';

export interface RuncRuntimeOptions {
  /** runc's state directory (`runc --root`); one per node. */
  runcRoot: string;
  /** Cgroup under which every pod of this node gets its own cgroup. */
  cgroupParent: string;
  logger: Logger;
  /** Pid and exit files of the shims (outside runc's root, which runc owns); defaults to `<runcRoot>.shim`. */
  stateDir?: string;
  runcPath?: string;
  startTimeoutMs?: number;
}

export interface RuncContainer {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

/** What a container's shim left on disk: its pid once runc started it, its exit code once it ended. */
export interface ShimState {
  podId: string;
  pid?: number;
  exitCode?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The shim: `runc run` in the foreground (so its exit status is the
 * container's, 128+signal when killed), then the status is written
 * atomically to a file that outlives the agent. Arguments are positional
 * parameters, never spliced into the script text.
 *
 * Without a terminal and not detached, runc gives the container pipes for its
 * stdio and copies them into its own (the log file); the container never
 * holds the log file itself. That is what checkpoints need: CRIU records the
 * stdio as `pipe:[...]` (descriptors.json) and runc restore hands it new
 * pipes (--inherit-fd), so a restored pod logs to its own log and does not
 * depend on the checkpointed pod's log path (the checkpoint e2e checks a
 * restored pod's logs).
 */
const SHIM_SCRIPT = '"$1" --root "$2" run --bundle "$3" --pid-file "$4" "$5" >>"$6" 2>&1 </dev/null; echo $? >"$7" && mv "$7" "$8"';
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const GONE = /does not exist|not exist|container not running|process already finished/i;

const runcListSchema = z.array(z.looseObject({ id: z.string(), pid: z.number().int(), status: z.string(), bundle: z.string() })).nullable();

/** Runs pods as runc containers, each supervised by a detached shim process. */
export class RuncRuntime {
  private readonly runcRoot: string;
  private readonly shimDir: string;
  private readonly runc: string;

  constructor(private readonly opts: RuncRuntimeOptions) {
    if (!CONTAINER_ID.test(opts.cgroupParent))
      throw new NodeRuntimeError('configure runc', `cgroup parent "${opts.cgroupParent}" is not a safe name`);
    this.runcRoot = resolve(opts.runcRoot);
    this.shimDir = resolve(opts.stateDir ?? `${this.runcRoot}.shim`);
    this.runc = opts.runcPath ?? 'runc';
  }

  /** The `linux.cgroupsPath` a pod's runtime spec must carry on this node. */
  cgroupsPath(podId: string): string {
    return `/${this.opts.cgroupParent}/${podId}`;
  }

  /**
   * Starts the container and resolves with its pid once runc has started it.
   * Starting a pod that is already running returns its pid (jobs may run twice).
   */
  async start(podId: string, bundleDir: string, logPath: string): Promise<{ pid: number }> {
    this.checkId(podId, 'start container');
    const dir = this.podShimDir(podId);
    const pidFile = join(dir, 'pid');
    const exitFile = join(dir, 'exit');
    await mkdir(dir, { recursive: true });
    await mkdir(this.runcRoot, { recursive: true, mode: 0o700 });
    await mkdir(dirname(resolve(logPath)), { recursive: true });

    const earlierExit = await this.readExitCode(podId);
    if (earlierExit !== undefined) {
      throw new NodeRuntimeError('start container', `it already ran and exited with ${earlierExit}; remove it first`, podId);
    }
    const earlierPid = await readPid(pidFile);
    if (earlierPid !== undefined) return { pid: earlierPid };

    const started = Date.now();
    const aborter = new AbortController();
    // Watch before spawning so that no file event can be missed.
    const pidReady = watchDirUntil(
      dir,
      async () => {
        const pid = await readPid(pidFile);
        if (pid !== undefined) return pid;
        const code = await this.readExitCode(podId);
        if (code === undefined) return undefined;
        const tail = await readTail(logPath);
        throw new NodeRuntimeError(
          'start container',
          `runc exited with ${code} before the container started${tail ? `: ${tail}` : ''}`,
          podId,
        );
      },
      { what: `pid file of pod ${podId}`, timeoutMs: this.opts.startTimeoutMs ?? 30_000, signal: aborter.signal },
    );

    const args = [this.runc, this.runcRoot, resolve(bundleDir), pidFile, podId, resolve(logPath), `${exitFile}.tmp`, exitFile];
    const shim = spawn('sh', ['-c', SHIM_SCRIPT, 'warmpod-shim', ...args], { detached: true, stdio: 'ignore' });
    shim.on('error', (error) =>
      aborter.abort(new NodeRuntimeError('start container', `shim could not be spawned: ${error.message}`, podId)),
    );
    shim.on('exit', (code) => {
      if (code !== 0)
        aborter.abort(new NodeRuntimeError('start container', `shim exited with ${code} without recording an exit code`, podId));
    });
    shim.unref();

    try {
      const pid = await pidReady;
      this.opts.logger.info({ podId, pid, ms: Date.now() - started }, 'container started');
      return { pid };
    } catch (error) {
      if (error instanceof NodeRuntimeError) throw error;
      throw new NodeRuntimeError('start container', messageOf(error), podId, { cause: error });
    }
  }

  /** Resolves with the exit code, also for containers started before an agent restart. */
  async waitExit(podId: string, opts: WaitOptions = {}): Promise<number> {
    this.checkId(podId, 'wait for container exit');
    const dir = this.podShimDir(podId);
    if (!(await exists(dir))) throw new NodeRuntimeError('wait for container exit', 'no such container on this node', podId);
    return watchDirUntil(
      dir,
      async () => {
        const code = await this.readExitCode(podId);
        if (code === undefined && !(await exists(dir))) {
          throw new NodeRuntimeError('wait for container exit', 'the container was removed before it exited', podId);
        }
        return code;
      },
      { what: `exit of pod ${podId}`, ...opts },
    );
  }

  /** SIGTERM, then SIGKILL once `graceMs` has passed; resolves with the exit code. */
  async stop(podId: string, graceMs: number): Promise<number> {
    this.checkId(podId, 'stop container');
    const done = await this.readExitCode(podId);
    if (done !== undefined) return done;
    await this.kill(podId, 'TERM');
    try {
      return await this.waitExit(podId, { timeoutMs: graceMs });
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
    }
    this.opts.logger.info({ podId, graceMs }, 'container ignored SIGTERM, sending SIGKILL');
    await this.kill(podId, 'KILL');
    return this.waitExit(podId, { timeoutMs: 10_000 });
  }

  /** Forgets the container: killed if still running, runc state and shim files removed. */
  async remove(podId: string): Promise<void> {
    this.checkId(podId, 'remove container');
    try {
      await runCommand(this.runc, ['--root', this.runcRoot, 'delete', '--force', podId]);
    } catch (error) {
      if (!(error instanceof CommandError && GONE.test(error.stderr))) {
        throw new NodeRuntimeError('remove container', messageOf(error), podId, { cause: error });
      }
      // A runc killed while creating or restoring the container leaves its state dir without a
      // loadable state.json: runc then neither knows the container nor lets a new one have the id.
      if (/does not exist/i.test(error.stderr)) await rm(join(this.runcRoot, podId), { recursive: true, force: true, maxRetries: 3 });
    }
    const dir = this.podShimDir(podId);
    if ((await exists(dir)) && (await exists(join(dir, 'pid')))) {
      // Let a live shim record the exit before its directory goes away.
      await this.waitExit(podId, { timeoutMs: 2000 }).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }

  async list(): Promise<RuncContainer[]> {
    try {
      const { stdout } = await runCommand(this.runc, ['--root', this.runcRoot, 'list', '--format', 'json']);
      return (runcListSchema.parse(JSON.parse(stdout)) ?? []).map(({ id, pid, status, bundle }) => ({ id, pid, status, bundle }));
    } catch (error) {
      throw new NodeRuntimeError('list containers', messageOf(error), undefined, { cause: error });
    }
  }

  /** Every container the shims know of on this node, running or ended (read again after an agent restart). */
  async listShims(): Promise<ShimState[]> {
    const names = await readdir(this.shimDir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new NodeRuntimeError('list shims', messageOf(error), undefined, { cause: error });
    });
    const states: ShimState[] = [];
    for (const podId of names.filter((n) => CONTAINER_ID.test(n))) {
      const dir = this.podShimDir(podId);
      const [pid, exitCode] = await Promise.all([readPid(join(dir, 'pid')), readExitCode(join(dir, 'exit'))]);
      states.push({ podId, ...(pid !== undefined ? { pid } : {}), ...(exitCode !== undefined ? { exitCode } : {}) });
    }
    return states;
  }

  /** Thaws a container left paused (an agent that died while it checkpointed it). */
  async resume(podId: string): Promise<void> {
    this.checkId(podId, 'resume container');
    try {
      await runCommand(this.runc, ['--root', this.runcRoot, 'resume', podId]);
    } catch (error) {
      throw new NodeRuntimeError('resume container', messageOf(error), podId, { cause: error });
    }
  }

  /** Pods that have a cgroup under this node's parent, in any hierarchy. */
  async listPodCgroups(): Promise<string[]> {
    const found = new Set<string>();
    for (const root of await cgroupRoots()) {
      const entries = await readdir(join(root, this.opts.cgroupParent), { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory() && CONTAINER_ID.test(e.name)) found.add(e.name);
    }
    return [...found];
  }

  /** Removes a pod's (empty) cgroup in every hierarchy; a cgroup still in use is refused by the kernel and reported. */
  async removePodCgroup(podId: string): Promise<void> {
    this.checkId(podId, 'remove pod cgroup');
    for (const root of await cgroupRoots()) {
      try {
        await rmdir(join(root, this.opts.cgroupParent, podId));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new NodeRuntimeError('remove pod cgroup', `${root}: ${messageOf(error)}`, podId, { cause: error });
      }
    }
  }

  /** Whether the node's parent cgroup exists in some hierarchy. */
  async hasCgroupParent(): Promise<boolean> {
    for (const root of await cgroupRoots()) if (await exists(join(root, this.opts.cgroupParent))) return true;
    return false;
  }

  /** Removes the node's (empty) parent cgroup in every hierarchy, when a local node shuts down. */
  async removeCgroupParent(): Promise<void> {
    for (const root of await cgroupRoots()) {
      try {
        await rmdir(join(root, this.opts.cgroupParent));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new NodeRuntimeError('remove cgroup parent', `${root}/${this.opts.cgroupParent}: ${messageOf(error)}`);
      }
    }
  }

  private async kill(podId: string, signal: 'TERM' | 'KILL'): Promise<void> {
    try {
      await runCommand(this.runc, ['--root', this.runcRoot, 'kill', podId, signal]);
    } catch (error) {
      if (error instanceof CommandError && GONE.test(error.stderr)) return;
      throw new NodeRuntimeError('stop container', `runc kill ${signal}: ${messageOf(error)}`, podId, { cause: error });
    }
  }

  private podShimDir(podId: string): string {
    return join(this.shimDir, podId);
  }

  private readExitCode(podId: string): Promise<number | undefined> {
    return readExitCode(join(this.podShimDir(podId), 'exit'));
  }

  private checkId(podId: string, operation: string): void {
    if (!CONTAINER_ID.test(podId)) throw new NodeRuntimeError(operation, `"${podId}" is not a valid container id`, podId);
  }
}

/** Mount points of every cgroup hierarchy (v1 controllers and the v2 unified one). */
async function cgroupRoots(): Promise<string[]> {
  return (await readMounts()).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint);
}
