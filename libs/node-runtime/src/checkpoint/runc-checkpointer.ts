import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from '../command';
import { NodeRuntimeError } from '../errors';
import { exists } from '../files';
import { RuncRuntime } from '../runc-runtime';
import {
  CriuOperationError,
  RestoreAbortedError,
  type CheckpointOptions,
  type RestoreOptions,
  type RestoredContainer,
  type RestoreSteps,
  type RuncCheckpointerOptions,
} from './checkpoint-operations';
import { readExitCode, readPid } from '../shim-files';
import { WaitTimeoutError, watchDirUntil } from '../watch-dir';
import { readCriuLog, readTail } from './criu-log';
import { criuRestorePhases } from './criu-phases';
import { criuEnvironment } from './criu-mode';
import { checkImagesCached, writeImagesManifest } from './images-manifest';
import { adoptRestoredProcesses, removeIfUnused, unifiedCgroupDir } from './restored-cgroup';
import {
  applyCpuLimit,
  cpuLimitOnce,
  cpuLimitTarget,
  liftCpuLimit,
  untilUntraced,
  writeRestoreBundle,
  type CpuLimit,
  type CpuLimitTarget,
} from './restore-cpu';
import { killRestoreLeftovers, pidNs, unmountUnder } from './restore-leftovers';

export {
  CriuOperationError,
  RestoreAbortedError,
  type CheckpointOptions,
  type RestoreOptions,
  type RestoredContainer,
  type RestoreSteps,
  type RuncCheckpointerOptions,
} from './checkpoint-operations';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The restore shim: like RuncRuntime's start shim, runc runs in the
 * foreground inside a detached shell, so runc (a subreaper) waits for the
 * restored process and its exit status (128+signal when killed) lands in the
 * same exit file RuncRuntime.waitExit, stop and remove use. Arguments are
 * positional, never spliced into the script. Not detached, runc restore gives
 * the restored process new pipes for the stdio CRIU recorded as pipes (the
 * start shim makes sure they are) and copies them into this pod's log.
 */
const RESTORE_SHIM = 'log=$1; tmp=$2; done=$3; shift 3; "$@" >>"$log" 2>&1 </dev/null; echo $? >"$tmp" && mv "$tmp" "$done"';

/**
 * `runc checkpoint` and `runc restore` for pods run by RuncRuntime. Build it
 * from the same options as the node's RuncRuntime: a restored pod is then
 * awaited, stopped and removed through the RuncRuntime like any started pod.
 */
export class RuncCheckpointer {
  private readonly runcRoot: string;
  private readonly shimDir: string;
  private readonly runc: string;
  /** runc's global options for CRIU operations: its state root, and the criu to run. */
  private readonly criuRuncArgs: string[];
  private readonly criuEnv: NodeJS.ProcessEnv | undefined;
  private readonly runtime: RuncRuntime;
  private readonly logger: Logger;

  constructor(private readonly opts: RuncCheckpointerOptions) {
    this.runcRoot = resolve(opts.runcRoot);
    // RuncRuntime's layout: `<stateDir>/<podId>/{pid,exit}`.
    this.shimDir = resolve(opts.stateDir ?? `${this.runcRoot}.shim`);
    this.runc = opts.runcPath ?? 'runc';
    this.criuRuncArgs = ['--root', this.runcRoot, ...(opts.criuPath ? ['--criu', opts.criuPath] : [])];
    // runc hands its environment to criu: that is how CRIU_FAULT reaches it.
    this.criuEnv = opts.criuMode ? criuEnvironment(opts.criuMode) : undefined;
    this.runtime = new RuncRuntime(opts);
    this.logger = opts.logger;
  }

  /**
   * Dumps the running container into `imagesDir`, which must not exist yet
   * (it is created mode 0700). On failure nothing is left in `imagesDir` or
   * its work dir, a container left frozen is thawed, and the error carries
   * CRIU's own reasons.
   */
  async checkpoint(podId: string, imagesDir: string, opts: CheckpointOptions): Promise<{ ms: number }> {
    const op = 'checkpoint container';
    checkId(podId, op);
    const images = resolve(imagesDir);
    const work = `${images}.work`;
    if (await exists(images)) throw new NodeRuntimeError(op, `${images} already exists; a checkpoint is never written over another`, podId);
    const started = Date.now();
    await mkdir(images, { recursive: true, mode: 0o700 });
    await mkdir(work, { recursive: true, mode: 0o700 });
    const args = [...this.criuRuncArgs, 'checkpoint', '--image-path', images, '--work-path', work];
    if (opts.leaveRunning) args.push('--leave-running');
    if (opts.tcpEstablished) args.push('--tcp-established');
    if (opts.fileLocks) args.push('--file-locks');
    // CRIU's parasite runs in the pod's tasks: not under its quota (restored right after, whatever happened).
    const cpuTarget = await cpuLimitTarget(this.runtime.cgroupsPath(podId));
    const lifted = cpuTarget === undefined ? undefined : await liftCpuLimit(cpuTarget).catch(() => undefined);
    try {
      await runCommand(this.runc, [...args, podId], { timeoutMs: this.opts.checkpointTimeoutMs ?? 300_000, env: this.criuEnv });
    } catch (error) {
      if (cpuTarget !== undefined && lifted !== undefined) await this.restoreCpuLimit(podId, cpuTarget, lifted);
      const log = await readCriuLog(join(work, 'dump.log'));
      await Promise.all([rm(images, { recursive: true, force: true }), rm(work, { recursive: true, force: true })]);
      if (opts.leaveRunning) await this.thawIfFrozen(podId);
      const runcSaid = error instanceof CommandError ? error.stderr.trim() || error.stdout.trim() : messageOf(error);
      const detail = log.failure !== undefined ? `criu: ${log.failure}` : runcSaid || messageOf(error);
      this.logger.warn({ podId, criuErrors: log.errors, runc: runcSaid.slice(-500) }, 'checkpoint failed');
      throw new CriuOperationError(op, detail, podId, log.errors, log.tail, { cause: error });
    }
    if (cpuTarget !== undefined && lifted !== undefined) await this.restoreCpuLimit(podId, cpuTarget, lifted);
    await rm(work, { recursive: true, force: true });
    try {
      await writeImagesManifest(images);
    } catch (error) {
      await rm(images, { recursive: true, force: true });
      throw new NodeRuntimeError(op, `could not record the images' checksums: ${messageOf(error)}`, podId, { cause: error });
    }
    const ms = Date.now() - started;
    this.logger.info({ podId, ms, leaveRunning: opts.leaveRunning }, 'container checkpointed');
    return { ms };
  }

  /**
   * Restores a checkpoint as the container `podId` from its own bundle
   * (config.json with the new pod's rootfs, netns and cgroup), detached from
   * the agent, and resolves with the pid once runc has restored it.
   * Restoring a pod that is already running returns its pid (jobs run twice).
   * On failure or abort every artifact of the attempt is removed (runc state,
   * shim files), so the same pod can fall back to RuncRuntime.start.
   */
  async restore(
    podId: string,
    bundleDir: string,
    imagesDir: string,
    logPath: string,
    opts: RestoreOptions = {},
  ): Promise<RestoredContainer> {
    const op = 'restore container';
    checkId(podId, op);
    const dir = join(this.shimDir, podId);
    const pidFile = join(dir, 'pid');
    const exitFile = join(dir, 'exit');
    const work = join(dir, 'criu-restore');
    const images = resolve(imagesDir);

    const earlierExit = await readExitCode(exitFile);
    if (earlierExit !== undefined) throw new NodeRuntimeError(op, `it already ran and exited with ${earlierExit}; remove it first`, podId);
    const earlierPid = await readPid(pidFile);
    if (earlierPid !== undefined) return { pid: earlierPid, ms: 0, limitCpu: () => Promise.resolve() };
    const verifying = Date.now();
    if (!opts.imagesVerified) await this.verifyImages(podId, images);
    const verifyMs = Date.now() - verifying;
    if (opts.signal?.aborted) throw new RestoreAbortedError(op, 'stopped on request', podId, { cause: opts.signal.reason });

    // CRIU runs inside the pod's cgroup (writeRestoreBundle): without a cpu controller to set the quota afterwards, under it.
    const cpuTarget = await cpuLimitTarget(this.runtime.cgroupsPath(podId));
    let runFrom: { dir: string; cpu: CpuLimit | undefined } = { dir: resolve(bundleDir), cpu: undefined };
    if (cpuTarget !== undefined && this.opts.liftCpuQuota !== false) {
      try {
        runFrom = await writeRestoreBundle(resolve(bundleDir));
      } catch (error) {
        throw new NodeRuntimeError(op, messageOf(error), podId, { cause: error });
      }
    }
    await mkdir(work, { recursive: true, mode: 0o700 });
    await mkdir(this.runcRoot, { recursive: true, mode: 0o700 });
    await mkdir(dirname(resolve(logPath)), { recursive: true });
    const started = Date.now();
    const failed = new AbortController();
    const timeoutMs = this.opts.restoreTimeoutMs ?? 120_000;
    const signal = opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal;

    // Watch before spawning so that no file event can be missed.
    const restored = watchDirUntil(
      dir,
      async () => {
        const pid = await readPid(pidFile);
        if (pid !== undefined) return pid;
        const code = await readExitCode(exitFile);
        if (code !== undefined) throw new Error(`runc restore exited with ${code}`);
        return undefined;
      },
      { what: `restored pid of pod ${podId}`, timeoutMs, signal },
    );

    const runcArgs = [
      ...this.criuRuncArgs,
      'restore',
      '--bundle',
      runFrom.dir,
      '--image-path',
      images,
      '--work-path',
      work,
      '--pid-file',
      pidFile,
    ];
    if (opts.tcpEstablished) runcArgs.push('--tcp-established');
    if (opts.fileLocks) runcArgs.push('--file-locks');
    const shimArgs = [resolve(logPath), `${exitFile}.tmp`, exitFile, this.runc, ...runcArgs, podId];
    const shim = spawn('sh', ['-c', RESTORE_SHIM, 'warmpod-restore-shim', ...shimArgs], {
      detached: true,
      stdio: 'ignore',
      ...(this.criuEnv ? { env: this.criuEnv } : {}),
    });
    shim.on('error', (error) => failed.abort(new Error(`restore shim could not be spawned: ${error.message}`)));
    let shimRunning = true;
    const shimExited = new Promise<void>((resolveExit) => {
      shim.on('exit', (code) => {
        shimRunning = false;
        resolveExit();
        if (code !== 0) failed.abort(new Error(`restore shim exited with ${code} without recording an exit code`));
      });
      shim.on('error', () => resolveExit());
    });
    shim.unref();

    try {
      const pid = await restored;
      const runcMs = Date.now() - started;
      const limit = runFrom.cpu;
      let limitCpu = () => Promise.resolve();
      if (limit !== undefined && cpuTarget !== undefined) {
        await untilUntraced(pid, 10_000);
        const deferMs = opts.deferCpuLimitMs ?? 0;
        limitCpu = cpuLimitOnce(cpuTarget, limit, deferMs, (e) =>
          this.logger.error({ podId, err: messageOf(e) }, 'could not set the CPU quota of a restored pod'),
        );
        if (deferMs <= 0) await limitCpu();
      }
      const cpuMs = Date.now() - started - runcMs;
      const [, phases] = await Promise.all([
        adoptRestoredProcesses(pid, this.runtime.cgroupsPath(podId), this.logger),
        criuRestorePhases(join(work, 'restore.log')),
      ]);
      const ms = Date.now() - started;
      const steps: RestoreSteps = { verifyMs, runcMs, resumeMs: cpuMs, adoptMs: ms - runcMs - cpuMs, ...phases };
      this.logger.info({ podId, pid, ms, ...steps }, 'container restored');
      return { pid, ms, steps, limitCpu };
    } catch (error) {
      const aborted = opts.signal?.aborted === true;
      const why = error instanceof WaitTimeoutError ? `runc restore did not finish within ${timeoutMs} ms` : messageOf(error);
      // Read CRIU's log before the cleanup removes the work dir with it.
      const log = await readCriuLog(join(work, 'restore.log'));
      const runcTail = await readTail(resolve(logPath), 800);
      if (shimRunning) {
        killGroup(shim.pid);
        // A referenced timer: the shim itself is unref'd, and the cleanup must not lose the event loop.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([shimExited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
      }
      await this.removeAttempt(podId, resolve(bundleDir), work, opts.sourcePodId).catch((e: unknown) =>
        this.logger.warn({ podId, err: messageOf(e) }, 'cleanup after restore failed'),
      );
      if (aborted) {
        this.logger.info({ podId }, 'restore stopped on request');
        throw new RestoreAbortedError(op, 'stopped on request', podId, { cause: opts.signal?.reason });
      }
      const detail = [why, log.failure !== undefined ? `criu: ${log.failure}` : lastLines(runcTail, 3)].filter(Boolean).join(': ');
      this.logger.warn({ podId, criuErrors: log.errors }, 'restore failed');
      throw new CriuOperationError(op, detail, podId, log.errors, log.tail || runcTail, { cause: error });
    }
  }

  /** How many `verifyImages` calls hashed the images, and how many found them unchanged since a recorded verification. */
  readonly verifications = { hashed: 0, unchanged: 0 };

  /**
   * Checks that `imagesDir` holds CRIU images matching their manifest; throws
   * CriuOperationError otherwise. Images unchanged since a passed check are
   * not hashed again (images-verified.ts says what that gives up). `restore`
   * does this itself unless told the caller did (e.g. while the pod's root
   * and network were being prepared).
   */

  async verifyImages(podId: string, imagesDir: string): Promise<void> {
    const op = 'restore container';
    const images = resolve(imagesDir);
    if (!(await exists(join(images, 'inventory.img')))) {
      throw new CriuOperationError(op, `${images} holds no CRIU images`, podId, [], '');
    }
    const { damage, hashed, unchanged } = await checkImagesCached(images);
    if (hashed) this.verifications.hashed += 1;
    if (unchanged) this.verifications.unchanged += 1;
    if (damage !== undefined) throw new CriuOperationError(op, `the CRIU images in ${images} are damaged: ${damage}`, podId, [], '');
  }

  /** Freezes every process of the pod (e.g. so its writable layer matches the CRIU images). */
  async pause(podId: string): Promise<void> {
    checkId(podId, 'pause container');
    await this.runcSimple('pause container', podId, ['pause', podId]);
  }

  async resume(podId: string): Promise<void> {
    checkId(podId, 'resume container');
    await this.runcSimple('resume container', podId, ['resume', podId]);
  }

  /** runc's status of the container (`running`, `paused`, ...), undefined when runc does not know it. */
  async status(podId: string): Promise<string | undefined> {
    try {
      const { stdout } = await runCommand(this.runc, ['--root', this.runcRoot, 'state', podId]);
      const status = (JSON.parse(stdout) as { status?: unknown }).status;
      return typeof status === 'string' ? status : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * After a failed or stopped restore, once the shim's process group is
   * killed: the tasks CRIU was restoring (they keep running otherwise), the
   * mounts a killed CRIU and runc leave, runc's state, the shim files,
   * the pod's cgroup and the checkpointed pod's cgroup if CRIU recreated it
   * and nothing else uses it. A live source pod on this node is never touched.
   */
  private async removeAttempt(podId: string, bundleDir: string, work: string, sourcePodId: string | undefined): Promise<void> {
    const source = sourcePodId !== undefined && sourcePodId !== podId && CONTAINER_ID.test(sourcePodId) ? sourcePodId : undefined;
    const podCgroupDir = await unifiedCgroupDir(this.runtime.cgroupsPath(podId));
    const sourceCgroupDir = source === undefined ? undefined : await unifiedCgroupDir(this.runtime.cgroupsPath(source));
    const sourcePid =
      source === undefined ? undefined : (await this.runtime.list().catch(() => [])).find((c) => c.id === source && c.pid > 0)?.pid;
    const keepPidNs = sourcePid === undefined ? undefined : await pidNs(sourcePid);
    const netnsPath = await bundleNetnsPath(bundleDir);
    await killRestoreLeftovers({ podCgroupDir, sourceCgroupDir, keepPidNs, netnsPath }, this.logger);
    // A killed CRIU leaves its cgroup yard mounted in the work dir; a killed runc restore its
    // bind mount of the rootfs at <runc root>/<pod>/criu-root (runc delete then cannot remove the dir).
    await unmountUnder(work, this.logger);
    await unmountUnder(join(this.runcRoot, podId), this.logger);
    // The shim is dead: no exit will be recorded, so RuncRuntime.remove must not wait for one.
    await rm(join(this.shimDir, podId, 'pid'), { force: true });
    await this.runtime.remove(podId);
    if (podCgroupDir !== undefined) await removeIfUnused(podCgroupDir, this.logger);
    if (sourceCgroupDir !== undefined) await removeIfUnused(sourceCgroupDir, this.logger);
  }

  private async restoreCpuLimit(podId: string, target: CpuLimitTarget, limit: CpuLimit): Promise<void> {
    await applyCpuLimit(target, limit).catch((e: unknown) =>
      this.logger.error({ podId, err: messageOf(e) }, "could not set the pod's CPU quota again after its checkpoint"),
    );
  }

  private async thawIfFrozen(podId: string): Promise<void> {
    if ((await this.status(podId)) !== 'paused') return;
    this.logger.warn({ podId }, 'container left frozen by a failed checkpoint: resuming it');
    await this.resume(podId).catch((e: unknown) => this.logger.error({ podId, err: messageOf(e) }, 'could not resume the container'));
  }

  private async runcSimple(op: string, podId: string, args: string[]): Promise<void> {
    try {
      await runCommand(this.runc, ['--root', this.runcRoot, ...args]);
    } catch (error) {
      throw new NodeRuntimeError(op, messageOf(error), podId, { cause: error });
    }
  }
}

/** The network namespace the bundle's config.json joins, if any. */
async function bundleNetnsPath(bundleDir: string): Promise<string | undefined> {
  try {
    const config = JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as {
      linux?: { namespaces?: Array<{ type?: unknown; path?: unknown }> };
    };
    const path = config.linux?.namespaces?.find((ns) => ns.type === 'network')?.path;
    return typeof path === 'string' && path.length > 0 ? path : undefined;
  } catch {
    return undefined;
  }
}

function checkId(podId: string, operation: string): void {
  if (!CONTAINER_ID.test(podId)) throw new NodeRuntimeError(operation, `"${podId}" is not a valid container id`, podId);
}

/** Ends the shim this call started (its own process group: shell, runc, criu), by pid. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function lastLines(text: string, n: number): string {
  return text.split('\n').filter(Boolean).slice(-n).join('; ');
}
