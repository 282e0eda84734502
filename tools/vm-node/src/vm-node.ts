import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants, readFileSync } from 'node:fs';
import { access, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GUEST_AGENT_SCRIPT, loadVmAssets, type VmAssets } from './assets';
import { checkPlainPath, findInPath, GUEST_WORKLOAD_PID_FILE, qemuArgs, writeBootFiles } from './boot-files';
import { tail, VmNodeError } from './errors';
import { checkPort, hostForwardAddCommand, hostForwardRemoveCommand, parseHostForwards } from './forwards';
import { GUEST_BUSYBOX, GuestExec, type ExecOptions, type ExecResult } from './guest-exec';
import { LineChannel, QmpClient } from './line-channel';
import { checkVmNodeOptions, type VmNodeOptions, type VmNodeStats } from './vm-options';

type ExitInfo = { code: number | null; signal: string | null };

/**
 * A QEMU/TCG VM booting Debian's 6.1 kernel with the host's / as its read-only root (9p +
 * tmpfs overlay), driven over a virtio-serial control channel. One instance owns one QEMU
 * process and ends only that process.
 */
export class VmNode extends EventEmitter {
  private readonly hostPorts = new Map<number, number>();
  private readonly execs: GuestExec;
  private readyWaiter: { resolve: (uptime: number) => void } | undefined;
  private exitInfo: ExitInfo | undefined;
  private workloadExit: number | undefined;
  private stopping: Promise<void> | undefined;
  private lastStats: VmNodeStats | undefined;
  /** Host wall time from spawning QEMU to the guest agent's READY. */
  bootMs = 0;
  /** The guest's uptime (s) when its agent reported READY. */
  guestUptimeAtReady = 0;
  readonly exited: Promise<ExitInfo>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly ctl: LineChannel,
    private readonly qmp: QmpClient,
    readonly assets: VmAssets,
    readonly workDir: string,
    private readonly ownWorkDir: boolean,
    private readonly socketDir: string,
    private readonly ownSocketDir: boolean,
  ) {
    super();
    this.execs = new GuestExec(join(this.shareDir, 'exec'), (line) => ctl.send(line));
    this.exited = new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.execs.failAll(new VmNodeError(`QEMU exited (${signal ?? `code ${code}`}); console tail:\n${tail(this.logs())}`));
        this.emit('exit', this.exitInfo);
        resolveExit(this.exitInfo);
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get shareDir(): string {
    return join(this.workDir, 'share');
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The workload's exit code once it ended (undefined while it runs or when there is none). */
  get workloadExitCode(): number | undefined {
    return this.workloadExit;
  }

  /** Whether this machine can boot the VM at all: root (9p passthrough of /) and a QEMU binary. */
  static available(qemuBinary = 'qemu-system-x86_64'): { ok: boolean; reason?: string } {
    if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (the 9p root share needs it)' };
    if (!findInPath(qemuBinary)) return { ok: false, reason: `${qemuBinary} not found (apt-get install qemu-system-x86)` };
    if (!findInPath('busybox')) return { ok: false, reason: 'busybox not found (apt-get install busybox-static)' };
    return { ok: true };
  }

  static async start(opts: VmNodeOptions): Promise<VmNode> {
    const { bootTimeoutMs, hostname, guestForwards, hostForwards, preloadModules, qemu, busybox } = checkVmNodeOptions(opts);
    await access(GUEST_AGENT_SCRIPT, constants.R_OK);

    const assets = await loadVmAssets(opts.assetsDir);
    const ownWorkDir = !opts.workDir;
    const workDir = opts.workDir ? resolve(opts.workDir) : await mkdtemp(join(tmpdir(), 'warmpod-vm-'));
    const share = join(workDir, 'share');
    for (const [path, what] of [
      [workDir, 'workDir'],
      [assets.kernel, 'kernel'],
      [assets.initrd, 'initrd'],
      [assets.modules, 'modules'],
      [GUEST_AGENT_SCRIPT, 'guest agent'],
      [busybox, 'busybox'],
    ] as const) {
      checkPlainPath(path, what);
    }
    await mkdir(share, { recursive: true });
    await rm(join(share, 'exec'), { recursive: true, force: true });
    await mkdir(join(share, 'exec'));
    const consoleLog = join(workDir, 'console.log');
    await writeFile(consoleLog, '');
    await writeBootFiles(share, {
      guestAgentScript: GUEST_AGENT_SCRIPT,
      preloadModules,
      command: opts.command,
      env: opts.env,
      cwd: opts.cwd,
      guestForwards,
    });

    // Sockets: a unix socket path must stay under ~107 bytes.
    const ownSocketDir = join(workDir, 'qmp.sock').length > 100;
    const socketDir = ownSocketDir ? await mkdtemp(join(tmpdir(), 'vmn-')) : workDir;
    // Lines can only arrive once QEMU runs, by which time the instance exists.
    const holder: { node?: VmNode } = {};
    const ctl = await LineChannel.listen(
      join(socketDir, 'ctl.sock'),
      (line) => holder.node?.receive(line),
      () => holder.node?.emit('control-closed'),
    );
    const qmp = await QmpClient.listen(join(socketDir, 'qmp.sock'));
    const args = qemuArgs({
      assets,
      useBzImage: opts.useBzImage ?? false,
      hostname,
      memoryMiB: opts.memoryMiB ?? 512,
      cpus: opts.cpus ?? 2,
      tbSizeMiB: opts.tbSizeMiB ?? 128,
      kernelArgs: opts.kernelArgs ?? [],
      consoleLog,
      share,
      busybox,
      guestForwards,
      hostForwards,
      controlSocket: ctl.path,
      qmpSocket: join(socketDir, 'qmp.sock'),
    });

    const log = await open(consoleLog, 'a');
    const started = Date.now();
    const child = spawn(qemu, args, { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    const node = new VmNode(child, ctl, qmp, assets, workDir, ownWorkDir, socketDir, ownSocketDir);
    const ready = new Promise<number>((resolveReady) => (node.readyWaiter = { resolve: resolveReady }));
    holder.node = node;

    let timer: NodeJS.Timeout | undefined;
    try {
      const ports = (async () => {
        await qmp.ready();
        return parseHostForwards(await qmp.hmp('info usernet'));
      })();
      const outcome = await Promise.race([
        ready.then((uptime) => ({ kind: 'ready' as const, uptime })),
        node.exited.then((info) => ({ kind: 'exit' as const, info })),
        new Promise<{ kind: 'timeout' }>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), bootTimeoutMs))),
      ]);
      if (spawnError) throw new VmNodeError(`QEMU could not be started: ${spawnError.message}`);
      if (outcome.kind === 'exit') {
        throw new VmNodeError(
          `the VM exited during boot (${outcome.info.signal ?? `code ${outcome.info.code}`}); console tail:\n${tail(node.logs())}`,
        );
      }
      if (outcome.kind === 'timeout') {
        throw new VmNodeError(`the VM sent no READY within ${bootTimeoutMs} ms; console tail:\n${tail(node.logs())}`);
      }
      node.bootMs = Date.now() - started;
      node.guestUptimeAtReady = outcome.uptime;
      for (const [guestPort, hostPort] of await ports) node.hostPorts.set(guestPort, hostPort);
      for (const f of hostForwards) {
        if (!node.hostPorts.has(f.guestPort)) throw new VmNodeError(`QEMU reports no host forward for guest port ${f.guestPort}`);
      }
      return node;
    } catch (error) {
      await node.stop({ graceMs: 0 }).catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command inside the guest (as root, cwd /, the host's userland) and collects its output. */
  exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.running) return Promise.reject(new VmNodeError('the VM is not running'));
    return this.execs.run(cmd, args, opts);
  }

  /** Like exec, but a non-zero exit is an error carrying stderr. */
  async execOk(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(cmd, args, opts);
    if (result.code !== 0) {
      throw new VmNodeError(
        `${[cmd, ...args].join(' ')} exited ${result.code} in the guest: ${(result.stderr || result.stdout).slice(-2000)}`,
      );
    }
    return result;
  }

  /** Sends a signal to the workload (the command itself: workload.sh execs it). */
  async signalWorkload(signal: 'TERM' | 'INT' | 'KILL'): Promise<void> {
    if (this.workloadExit !== undefined) return;
    await this.execOk(GUEST_BUSYBOX, ['sh', '-c', `kill -${signal} "$(cat ${GUEST_WORKLOAD_PID_FILE})"`], { timeoutMs: 10_000 });
  }

  /** Resolves with the workload's exit code; rejects after timeoutMs or when the VM exits first. */
  waitForWorkloadExit(timeoutMs: number): Promise<number> {
    if (this.workloadExit !== undefined) return Promise.resolve(this.workloadExit);
    return new Promise((resolveExit, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.off('workload-exit', onExit);
        this.off('exit', onVmExit);
        fn();
      };
      const onExit = (code: number): void => done(() => resolveExit(code));
      const onVmExit = (): void => done(() => reject(new VmNodeError('the VM exited before its workload did')));
      const timer = setTimeout(() => done(() => reject(new VmNodeError(`the workload did not exit within ${timeoutMs} ms`))), timeoutMs);
      this.on('workload-exit', onExit);
      this.once('exit', onVmExit);
    });
  }

  /** The host port (on 127.0.0.1) forwarded to a guest port. */
  hostPortFor(guestPort: number): number {
    const port = this.hostPorts.get(guestPort);
    if (port === undefined) throw new VmNodeError(`no host forward to guest port ${guestPort}`);
    return port;
  }

  /** Adds a forward 127.0.0.1:hostPort (0: a free one) -> guest port while running; returns the host port. */
  async addHostForward(guestPort: number, hostPort = 0): Promise<number> {
    checkPort(guestPort, 'host forward');
    checkPort(hostPort, 'host forward host side', true);
    if (this.hostPorts.has(guestPort)) throw new VmNodeError(`guest port ${guestPort} is already forwarded`);
    const out = await this.qmp.hmp(hostForwardAddCommand(guestPort, hostPort));
    if (out.trim()) throw new VmNodeError(`hostfwd_add: ${out.trim()}`);
    const port = parseHostForwards(await this.qmp.hmp('info usernet')).get(guestPort);
    if (port === undefined) throw new VmNodeError(`QEMU reports no host forward for guest port ${guestPort}`);
    this.hostPorts.set(guestPort, port);
    return port;
  }

  async removeHostForward(guestPort: number): Promise<void> {
    const hostPort = this.hostPortFor(guestPort);
    await this.qmp.hmp(hostForwardRemoveCommand(hostPort));
    this.hostPorts.delete(guestPort);
  }

  /** The serial console (kernel, init, agent) and QEMU's own output. */
  logs(): string {
    try {
      return readFileSync(join(this.workDir, 'console.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** What the guest workload wrote to stdout and stderr. */
  workloadLogs(): string {
    try {
      return readFileSync(join(this.shareDir, 'workload.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** QEMU's resident memory now and at its peak (kB), from /proc; the last values after exit. */
  stats(): VmNodeStats | undefined {
    if (this.running && this.child.pid) {
      try {
        const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
        const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
        this.lastStats = { rssKiB: kib('VmRSS'), peakRssKiB: kib('VmHWM') };
      } catch {
        // exited in between
      }
    }
    return this.lastStats;
  }

  /**
   * Powers the guest off (busybox init: shutdown actions, TERM then KILL to every process),
   * waits up to graceMs for QEMU to exit, then kills the QEMU process this instance started.
   * Removes the sockets and the exec scratch files (and workDir when it was a temp dir).
   */
  stop(opts: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.doStop(opts.graceMs ?? 15_000);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    if (this.running) {
      this.stats();
      if (graceMs > 0 && this.ctl.send('POWEROFF')) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
      }
      if (this.running) this.child.kill('SIGKILL');
      await this.exited;
    }
    await Promise.allSettled([this.ctl.close(), this.qmp.close()]);
    if (this.ownSocketDir) await rm(this.socketDir, { recursive: true, force: true });
    if (this.ownWorkDir) await rm(this.workDir, { recursive: true, force: true });
    else await rm(join(this.shareDir, 'exec'), { recursive: true, force: true });
  }

  private receive(line: string): void {
    const [kind, a, b] = line.trim().split(/\s+/);
    switch (kind) {
      case 'READY':
        if (this.readyWaiter) {
          this.readyWaiter.resolve(Number(a));
          this.readyWaiter = undefined;
        } else {
          this.emit('agent-restarted');
        }
        break;
      case 'DONE':
        this.execs.done(Number(a), Number(b));
        break;
      case 'EXIT':
        this.workloadExit = Number(a);
        this.emit('workload-exit', this.workloadExit);
        break;
      default:
        break;
    }
  }
}
