import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants, existsSync, readFileSync } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { GUEST_AGENT_SCRIPT, loadVmAssets, type VmAssets } from './assets';
import { LineChannel, QmpClient } from './line-channel';

/** The guest's own address on QEMU user networking. */
export const GUEST_IP = '10.0.2.15';
/** Where the read-write share is mounted inside the guest. */
export const GUEST_SHARE_DIR = '/run/vm-node/share';
/** The address a guest uses for host services by default (one guestfwd each). */
export const DEFAULT_GUEST_FORWARD_IP = '10.0.2.100';
/** The only host address a forward may touch, in either direction. */
const HOST_IP = '127.0.0.1';
const CONTROL_PORT_NAME = 'warmpod.ctl';
const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A host service the guest reaches at guestIp:guestPort; QEMU connects to 127.0.0.1:hostPort. */
export interface GuestForward {
  /** In 10.0.2.0/24, not the gateway (.2), DNS (.3) or the guest (.15). Default 10.0.2.100. */
  guestIp?: string;
  guestPort: number;
  /** Default: guestPort. */
  hostPort?: number;
  /**
   * Also answer on 127.0.0.1:guestPort inside the guest (a forwarder started before READY), so a
   * host service keeps its loopback name: pinned image references say 127.0.0.1:<registry port>.
   */
  loopback?: boolean;
}

/** A guest service the host reaches at 127.0.0.1:hostPort. */
export interface HostForward {
  /** 0 or absent: a free port, chosen by the kernel when QEMU binds it (see hostPortFor). */
  hostPort?: number;
  guestPort: number;
}

export interface VmNodeOptions {
  /** A directory built by scripts/build-vm-assets.sh. */
  assetsDir: string;
  /** Holds console.log, workload.log and the read-write share; a temp dir (removed on stop) when absent. */
  workDir?: string;
  memoryMiB?: number;
  cpus?: number;
  guestForwards?: GuestForward[];
  hostForwards?: HostForward[];
  /** The guest workload, started once per boot before READY is sent; output in workload.log. */
  command?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Default 90 s. */
  bootTimeoutMs?: number;
  hostname?: string;
  /** Boot the bzImage instead of the uncompressed vmlinux (slower, for comparison). */
  useBzImage?: boolean;
  /** TCG translation cache; it dominates QEMU's RSS beyond guest memory. Default 128. */
  tbSizeMiB?: number;
  qemuBinary?: string;
  /** Extra kernel command line words. */
  kernelArgs?: string[];
  /**
   * Modules loaded in the background right after boot (alongside the workload). Default:
   * CRIU_MODULES, which the first `criu check`/dump would otherwise load on demand, at
   * several seconds under TCG. [] loads none.
   */
  preloadModules?: string[];
}

/** What criu check / dump load on first use (socket diag, veth, nftables for network locking). */
export const CRIU_MODULES = [
  'inet_diag', 'tcp_diag', 'udp_diag', 'raw_diag', 'unix_diag', 'netlink_diag', 'af_packet_diag', 'veth', 'nf_tables',
];

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's stdin (otherwise /dev/null). */
  input?: string;
  /** Killed (SIGKILL, exit 137) inside the guest after this long; the call also fails on the host. */
  timeoutMs?: number;
}

export interface ExecResult {
  /** Exit code; 128+N when killed by signal N; 127 when the command was not found. */
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface VmNodeStats {
  rssKiB: number;
  peakRssKiB: number;
}

export class VmNodeError extends Error {
  override readonly name = 'VmNodeError';
}

interface PendingExec {
  resolve: (code: number) => void;
  reject: (error: Error) => void;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function checkPort(port: number, what: string, allowZero = false): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw new VmNodeError(`${what}: bad port ${port}`);
}

function checkPlainPath(path: string, what: string): void {
  // QEMU option values and the kernel command line are split on commas and spaces.
  if (/[\s,"']/.test(path)) throw new VmNodeError(`${what} path "${path}" contains a space, comma or quote`);
}

function checkEnv(env: Record<string, string> | undefined): void {
  for (const key of Object.keys(env ?? {})) if (!ENV_NAME.test(key)) throw new VmNodeError(`bad environment variable name "${key}"`);
}

function envLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
}

function findInPath(binary: string): string | undefined {
  if (binary.includes('/')) return existsSync(binary) ? binary : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function normaliseGuestForwards(forwards: GuestForward[]): Required<GuestForward>[] {
  const seen = new Set<string>();
  return forwards.map((f) => {
    const guestIp = f.guestIp ?? DEFAULT_GUEST_FORWARD_IP;
    const m = /^10\.0\.2\.(\d{1,3})$/.exec(guestIp);
    const last = m ? Number(m[1]) : -1;
    if (!m || last < 1 || last > 254 || [2, 3, 15].includes(last)) {
      throw new VmNodeError(`guest forward address ${guestIp} must be in 10.0.2.0/24 and not .2, .3 or .15`);
    }
    checkPort(f.guestPort, 'guest forward');
    const hostPort = f.hostPort ?? f.guestPort;
    checkPort(hostPort, 'guest forward host side');
    const key = `${guestIp}:${f.guestPort}`;
    if (seen.has(key)) throw new VmNodeError(`guest forward ${key} given twice`);
    seen.add(key);
    return { guestIp, guestPort: f.guestPort, hostPort, loopback: f.loopback ?? false };
  });
}

/**
 * The `-netdev user` value: restrict=on (the guest reaches nothing but these forwards), and
 * every forward touches 127.0.0.1 on the host only. A guest forward is a `cmd:` forward: QEMU
 * runs `busybox nc 127.0.0.1 PORT` per guest connection. (The chardev form,
 * `guestfwd=...-tcp:127.0.0.1:PORT`, opens ONE host connection at QEMU start and funnels every
 * guest connection into it: replies go to the wrong connection; unusable for Redis or gRPC.)
 */
export function userNetdev(guestForwards: Required<GuestForward>[], hostForwards: HostForward[], busybox: string): string {
  const parts = ['user', 'id=n0', 'restrict=on'];
  for (const f of guestForwards) parts.push(`guestfwd=tcp:${f.guestIp}:${f.guestPort}-cmd:${busybox} nc ${HOST_IP} ${f.hostPort}`);
  for (const f of hostForwards) parts.push(`hostfwd=tcp:${HOST_IP}:${f.hostPort ?? 0}-${GUEST_IP}:${f.guestPort}`);
  return parts.join(',');
}

/** Host ports of the forwards QEMU bound, from `info usernet`: guest port -> host port. */
export function parseHostForwards(infoUsernet: string): Map<number, number> {
  const ports = new Map<number, number>();
  const re = /TCP\[HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s+10\.0\.2\.15\s+(\d+)/g;
  for (let m = re.exec(infoUsernet); m; m = re.exec(infoUsernet)) ports.set(Number(m[2]), Number(m[1]));
  return ports;
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * A QEMU/TCG VM booting Debian's 6.1 kernel with the host's / as its read-only root (9p +
 * tmpfs overlay), driven over a virtio-serial control channel. One instance owns one QEMU
 * process and ends only that process.
 */
export class VmNode extends EventEmitter {
  private readonly pendingExecs = new Map<number, PendingExec>();
  private nextExecId = 1;
  private readonly hostPorts = new Map<number, number>();
  private readyWaiter: { resolve: (uptime: number) => void } | undefined;
  private exitInfo: { code: number | null; signal: string | null } | undefined;
  private stopping: Promise<void> | undefined;
  private lastStats: VmNodeStats | undefined;
  /** Host wall time from spawning QEMU to the guest agent's READY. */
  bootMs = 0;
  /** The guest's uptime (s) when its agent reported READY. */
  guestUptimeAtReady = 0;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

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
    this.exited = new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        const error = new VmNodeError(`QEMU exited (${signal ?? `code ${code}`}); console tail:\n${tail(this.logs())}`);
        for (const waiter of this.pendingExecs.values()) waiter.reject(error);
        this.pendingExecs.clear();
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

  /** Whether this machine can boot the VM at all: root (9p passthrough of /) and a QEMU binary. */
  static available(qemuBinary = 'qemu-system-x86_64'): { ok: boolean; reason?: string } {
    if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (the 9p root share needs it)' };
    if (!findInPath(qemuBinary)) return { ok: false, reason: `${qemuBinary} not found (apt-get install qemu-system-x86)` };
    if (!findInPath('busybox')) return { ok: false, reason: 'busybox not found (apt-get install busybox-static)' };
    return { ok: true };
  }

  static async start(opts: VmNodeOptions): Promise<VmNode> {
    const memoryMiB = opts.memoryMiB ?? 512;
    const cpus = opts.cpus ?? 2;
    const bootTimeoutMs = opts.bootTimeoutMs ?? 90_000;
    const hostname = opts.hostname ?? 'warmpod-vm';
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(hostname)) throw new VmNodeError(`bad hostname "${hostname}"`);
    const guestForwards = normaliseGuestForwards(opts.guestForwards ?? []);
    const hostForwards = opts.hostForwards ?? [];
    const guestPortsSeen = new Set<number>();
    for (const f of hostForwards) {
      checkPort(f.guestPort, 'host forward');
      checkPort(f.hostPort ?? 0, 'host forward host side', true);
      if (guestPortsSeen.has(f.guestPort)) throw new VmNodeError(`host forward to guest port ${f.guestPort} given twice`);
      guestPortsSeen.add(f.guestPort);
    }
    checkEnv(opts.env);
    const preload = opts.preloadModules ?? CRIU_MODULES;
    for (const m of preload) if (!/^[A-Za-z0-9_-]+$/.test(m)) throw new VmNodeError(`bad module name "${m}"`);
    const qemu = findInPath(opts.qemuBinary ?? 'qemu-system-x86_64');
    if (!qemu) throw new VmNodeError(`${opts.qemuBinary ?? 'qemu-system-x86_64'} not found (apt-get install qemu-system-x86)`);
    const busybox = findInPath('busybox');
    if (!busybox) throw new VmNodeError('busybox not found (apt-get install busybox-static)');
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

    // Sockets: a unix socket path must stay under ~107 bytes.
    const ownSocketDir = join(workDir, 'qmp.sock').length > 100;
    const socketDir = ownSocketDir ? await mkdtemp(join(tmpdir(), 'vmn-')) : workDir;

    // Files the guest reads from the share at boot.
    await writeFile(
      join(share, 'inittab'),
      [
        `::respawn:/run/vm-node/bin/sh ${GUEST_AGENT_SCRIPT} ${GUEST_SHARE_DIR}`,
        ...(preload.length > 0 ? [`::once:/run/vm-node/bin/modprobe -a -q ${preload.join(' ')}`] : []),
        '::ctrlaltdel:/run/vm-node/bin/poweroff',
        '::shutdown:/run/vm-node/bin/busybox sync',
        '',
      ].join('\n'),
    );
    await rm(join(share, 'workload.sh'), { force: true });
    if (opts.command && opts.command.length > 0) {
      const env = { PATH: GUEST_PATH, HOME: '/root', LANG: 'C.UTF-8', ...opts.env };
      await writeFile(
        join(share, 'workload.sh'),
        [
          ...envLines(env),
          ...(opts.cwd ? [`cd ${shellQuote(opts.cwd)} || exit 126`] : []),
          `exec ${opts.command.map(shellQuote).join(' ')}`,
          '',
        ].join('\n'),
      );
    }
    const loopback = guestForwards.filter((f) => f.loopback).map((f) => `${f.guestPort} ${f.guestIp}\n`);
    if (loopback.length > 0) await writeFile(join(share, 'loopback'), loopback.join(''));
    else await rm(join(share, 'loopback'), { force: true });

    // Lines can only arrive once QEMU runs, by which time the instance exists.
    const holder: { node?: VmNode } = {};
    const ctl = await LineChannel.listen(
      join(socketDir, 'ctl.sock'),
      (line) => holder.node?.receive(line),
      () => holder.node?.emit('control-closed'),
    );
    const qmp = await QmpClient.listen(join(socketDir, 'qmp.sock'));

    const kernelArgs = [
      'console=ttyS0',
      'panic=-1',
      'quiet',
      'loglevel=3',
      `vmnode.modules=${assets.modules}`,
      `vmnode.hostname=${hostname}`,
      ...(opts.kernelArgs ?? []),
    ];
    const args = [
      '-name', `warmpod-vm-${hostname}`,
      '-M', 'pc',
      '-accel', `tcg,thread=multi,tb-size=${opts.tbSizeMiB ?? 128}`,
      '-cpu', 'max',
      '-smp', String(cpus),
      '-m', String(memoryMiB),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', opts.useBzImage ? assets.bzImage : assets.kernel,
      '-initrd', assets.initrd,
      '-append', kernelArgs.join(' '),
      '-chardev', `file,id=con,path=${consoleLog},append=on`,
      '-serial', 'chardev:con',
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${share},mount_tag=vmshare,security_model=passthrough,multidevs=remap`,
      '-netdev', userNetdev(guestForwards, hostForwards, busybox),
      '-device', 'virtio-net-pci,netdev=n0',
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=ctl,path=${ctl.path}`,
      '-device', `virtserialport,chardev=ctl,name=${CONTROL_PORT_NAME}`,
      '-chardev', `socket,id=qmp,path=${join(socketDir, 'qmp.sock')}`,
      '-mon', 'chardev=qmp,mode=control',
    ];

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
        throw new VmNodeError(`the VM exited during boot (${outcome.info.signal ?? `code ${outcome.info.code}`}); console tail:\n${tail(node.logs())}`);
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
  async exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.running) throw new VmNodeError('the VM is not running');
    checkEnv(opts.env);
    const id = this.nextExecId++;
    const base = join(this.shareDir, 'exec', String(id));
    const timeoutS = opts.timeoutMs ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : 0;
    const script = [
      ...envLines(opts.env ?? {}),
      ...(opts.cwd ? [`cd ${shellQuote(opts.cwd)} || exit 126`] : []),
      `exec ${timeoutS ? `/run/vm-node/bin/busybox timeout -s KILL ${timeoutS} ` : ''}${[cmd, ...args].map(shellQuote).join(' ')}`,
      '',
    ].join('\n');
    await writeFile(`${base}.sh`, script);
    if (opts.input !== undefined) await writeFile(`${base}.in`, opts.input);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const code = await new Promise<number>((resolveExec, reject) => {
        this.pendingExecs.set(id, { resolve: resolveExec, reject });
        if (!this.ctl.send(`EXEC ${id}`)) {
          this.pendingExecs.delete(id);
          reject(new VmNodeError('the control channel is closed'));
          return;
        }
        const hostTimeout = opts.timeoutMs ? opts.timeoutMs + 15_000 : 10 * 60_000;
        timer = setTimeout(() => {
          this.pendingExecs.delete(id);
          reject(new VmNodeError(`exec ${cmd} got no answer from the guest within ${hostTimeout} ms`));
        }, hostTimeout);
      });
      const [stdout, stderr] = await Promise.all([
        readFile(`${base}.out`, 'utf8').catch(() => ''),
        readFile(`${base}.err`, 'utf8').catch(() => ''),
      ]);
      return { code, stdout, stderr, ms: Date.now() - started };
    } finally {
      clearTimeout(timer);
      await Promise.all(['sh', 'in', 'out', 'err'].map((ext) => rm(`${base}.${ext}`, { force: true })));
    }
  }

  /** Like exec, but a non-zero exit is an error carrying stderr. */
  async execOk(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(cmd, args, opts);
    if (result.code !== 0) {
      throw new VmNodeError(`${[cmd, ...args].join(' ')} exited ${result.code} in the guest: ${(result.stderr || result.stdout).slice(-2000)}`);
    }
    return result;
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
    const out = await this.qmp.hmp(`hostfwd_add n0 tcp:${HOST_IP}:${hostPort}-${GUEST_IP}:${guestPort}`);
    if (out.trim()) throw new VmNodeError(`hostfwd_add: ${out.trim()}`);
    const port = parseHostForwards(await this.qmp.hmp('info usernet')).get(guestPort);
    if (port === undefined) throw new VmNodeError(`QEMU reports no host forward for guest port ${guestPort}`);
    this.hostPorts.set(guestPort, port);
    return port;
  }

  async removeHostForward(guestPort: number): Promise<void> {
    const hostPort = this.hostPortFor(guestPort);
    await this.qmp.hmp(`hostfwd_remove n0 tcp:${HOST_IP}:${hostPort}`);
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
      case 'DONE': {
        const waiter = this.pendingExecs.get(Number(a));
        if (waiter) {
          this.pendingExecs.delete(Number(a));
          waiter.resolve(Number(b));
        }
        break;
      }
      case 'EXIT':
        this.emit('workload-exit', Number(a));
        break;
      default:
        break;
    }
  }
}
