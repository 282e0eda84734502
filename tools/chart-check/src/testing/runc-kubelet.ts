import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, open, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { runTool } from '@warmpod/devkit';
import type { ImageUnpacker } from './image-unpack';
import { hostsFile, type ContainerPlan, type HttpProbe, type Plan } from './pod-plan';
import { capsOfMask, runtimeSpec } from './runc-spec';

export interface KubeletOptions {
  /** Everything the kubelet makes (bundles, overlays, volumes, runc state) lives under it. */
  workDir: string;
  plan: Plan;
  images: ImageUnpacker;
  log: (line: string) => void;
  readyTimeoutMs?: number;
  /**
   * Host folders this machine-as-node owns (its data dirs). A Bidirectional
   * hostPath under one that is not a mount point is bound onto itself and
   * made shared, as a node's root is (systemd), so mounts a container makes
   * there reach the host; `stop` unbinds it.
   */
  nodeRoot?: string;
  /** How long a container gets after SIGTERM before SIGKILL (the pod's grace period, capped for a test). */
  stopGraceMs?: number;
}

interface Running {
  plan: ContainerPlan;
  id: string;
  dir: string;
  rootfs: string;
  logFile: string;
}

const runcState = z.object({ status: z.string() }).passthrough();
const runcList = z.array(z.object({ id: z.string() }).passthrough()).nullable();

/**
 * Plays kubelet for a rendered chart on this machine: each planned container
 * becomes a runc container of its image (pulled from the registry and
 * unpacked), on an overlay root, with its env, mounts, privileges and the
 * Service names on loopback, started in order and waited for until its
 * readiness probe (else startup probe) answers 2xx. Liveness probes keep
 * being asked while it runs; failures are reported by `problems`. `stop`
 * stops everything (SIGTERM, then SIGKILL after the grace), deletes the
 * containers and unmounts; `leftovers` says what would still be there.
 */
export class RuncKubelet {
  private readonly running: Running[] = [];
  private readonly failures: string[] = [];
  private livenessTimer?: NodeJS.Timeout;
  private readonly misses = new Map<string, number>();
  readonly cgroupParent: string;
  private readonly runcRoot: string;
  private starting: Promise<unknown> = Promise.resolve();
  private readonly shared: string[] = [];
  private closed = false;

  constructor(private readonly opts: KubeletOptions) {
    this.cgroupParent = `warmpod-chartrun-${process.pid}`;
    this.runcRoot = join(opts.workDir, 'runc');
  }

  /** Starts the containers one by one, each waited for until ready. */
  async startAll(filter: (c: ContainerPlan) => boolean = () => true): Promise<void> {
    for (const c of this.opts.plan.containers.filter(filter)) await this.start(c);
    this.livenessTimer ??= setInterval(() => void this.checkLiveness(), 5_000);
  }

  /** One start at a time; `stop` waits for it, so a Ctrl-C in the middle of a start leaves nothing either. */
  start(c: ContainerPlan): Promise<void> {
    const next = this.starting.then(() => this.startNow(c));
    this.starting = next.catch(() => undefined);
    return next;
  }

  private async startNow(c: ContainerPlan): Promise<void> {
    if (this.closed) throw new Error(`not starting ${c.pod}/${c.name}: the kubelet is stopping`);
    const t0 = Date.now();
    const id = `${c.pod}-${c.name}`.replace(/[^A-Za-z0-9_.-]/g, '-');
    const dir = join(this.opts.workDir, 'pods', id);
    const image = await this.opts.images.get(c.image);
    await mkdir(join(dir, 'upper'), { recursive: true });
    await mkdir(join(dir, 'work'), { recursive: true });
    await mkdir(join(dir, 'rootfs'), { recursive: true });
    const rootfs = join(dir, 'rootfs');
    await runTool('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${image.rootfs},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
      rootfs,
    ]);
    const running: Running = { plan: c, id, dir, rootfs, logFile: join(dir, 'output.log') };
    this.running.push(running);
    const mountSources = await Promise.all(c.mounts.map((m, i) => this.volume(m, join(dir, `files-${i}`), c)));
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, hostsFile(this.opts.plan, c.pod), { mode: 0o644 });
    const hostCaps = capsOfMask(/^CapBnd:\s*([0-9a-f]+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0');
    const spec = runtimeSpec(c, image, {
      hostCaps,
      rootfs,
      hostname: c.pod.slice(0, 63),
      hostsFile: hosts,
      mountSources,
      cgroupsPath: `/${this.cgroupParent}/${id}`,
    });
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    if (this.closed) throw new Error(`not starting ${id}: the kubelet is stopping`);
    const log = await open(running.logFile, 'a');
    try {
      const child = spawn('runc', ['--root', this.runcRoot, 'run', '--detach', '--bundle', dir, id], { stdio: ['ignore', log.fd, log.fd] });
      const [code] = (await once(child, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`runc run ${id} failed (exit ${code}): ${await this.tail(running)}`);
    } finally {
      await log.close();
    }
    await this.waitReady(running);
    this.opts.log(`${id}: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${c.image})`);
  }

  /** The host directory a mount binds: the hostPath (created when missing), an emptyDir, or the Secret's files. */
  private async volume(m: ContainerPlan['mounts'][number], filesDir: string, c: ContainerPlan): Promise<string> {
    if (m.kind === 'host') {
      await mkdir(m.hostPath, { recursive: true });
      const root = this.opts.nodeRoot;
      if (m.propagation === 'rshared' && root && m.hostPath.startsWith(`${root}/`) && !(await isMountPoint(m.hostPath))) {
        await runTool('mount', ['--bind', m.hostPath, m.hostPath]);
        this.shared.push(m.hostPath);
        await runTool('mount', ['--make-rshared', m.hostPath]);
      }
      return m.hostPath;
    }
    if (m.kind === 'empty') {
      const dir = join(this.opts.workDir, 'volumes', m.volume);
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777);
      return dir;
    }
    for (const f of m.files) {
      const target = join(filesDir, f.path);
      if (!target.startsWith(`${filesDir}/`)) throw new Error(`${c.pod}/${c.name}: secret item path ${f.path} leaves its volume`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, f.content, { mode: 0o644 });
    }
    await mkdir(filesDir, { recursive: true });
    return filesDir;
  }

  private async state(id: string): Promise<string> {
    try {
      return runcState.parse(JSON.parse(await runTool('runc', ['--root', this.runcRoot, 'state', id]))).status;
    } catch {
      return 'gone';
    }
  }

  private async waitReady(r: Running): Promise<void> {
    const probe = ['readiness', 'startup', 'liveness'].map((k) => r.plan.probes.find((p) => p.kind === k)).find(Boolean);
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      const status = await this.state(r.id);
      if (status !== 'running') throw new Error(`${r.id} is ${status} before it was ready: ${await this.tail(r)}`);
      if (!probe || (await probeOnce(probe))) return;
      if (this.closed) throw new Error(`${r.id}: stopped before it was ready`);
      if (Date.now() > deadline) {
        throw new Error(
          `${r.id}: ${probe.kind} probe ${probe.scheme}://127.0.0.1:${probe.port}${probe.path} did not answer 2xx: ${await this.tail(r)}`,
        );
      }
      await sleep(300);
    }
  }

  private async checkLiveness(): Promise<void> {
    for (const r of this.running) {
      const probe = r.plan.probes.find((p) => p.kind === 'liveness');
      if (!probe) continue;
      const misses = (await probeOnce(probe)) ? 0 : (this.misses.get(r.id) ?? 0) + 1;
      this.misses.set(r.id, misses);
      if (misses === 3) this.failures.push(`${r.id}: liveness probe ${probe.path} failed 3 times (a kubelet would restart it)`);
    }
  }

  /** Liveness failures seen so far. */
  problems(): string[] {
    return [...this.failures];
  }

  /** The last lines the container wrote. */
  async tail(r: Pick<Running, 'logFile'>, lines = 20): Promise<string> {
    const text = await readFile(r.logFile, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-lines).join('\n');
  }

  async logOf(pod: string): Promise<string> {
    const r = this.running.find((x) => x.plan.pod === pod);
    return r ? this.tail(r, 200) : '';
  }

  /** Stops every container, last started first; keeps going past failures and throws them at the end. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    await this.starting;
    const errors: string[] = [];
    for (const r of [...this.running].reverse()) {
      try {
        if ((await this.state(r.id)) === 'running') {
          await runTool('runc', ['--root', this.runcRoot, 'kill', r.id, 'SIGTERM']).catch(() => undefined);
          const deadline = Date.now() + (this.opts.stopGraceMs ?? 20_000);
          while ((await this.state(r.id)) === 'running' && Date.now() < deadline) await sleep(200);
          if ((await this.state(r.id)) === 'running') this.opts.log(`${r.id}: still running after the grace, killed`);
        }
        if ((await this.state(r.id)) !== 'gone') await runTool('runc', ['--root', this.runcRoot, 'delete', '--force', r.id]);
        await runTool('umount', [r.rootfs]).catch(async (error: unknown) => {
          if (await isMountPoint(r.rootfs)) throw error;
        });
        await rm(r.dir, { recursive: true, force: true });
      } catch (error) {
        errors.push(`${r.id}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.running.length = 0;
    // What the containers mounted under a shared host folder and left there, then the folder's own binding.
    for (const path of this.shared.reverse()) {
      const left = (await mountsUnder(path)).filter((m) => m !== path);
      if (left.length > 0) this.opts.log(`left under ${path} by its pods: ${left.join(', ')} (unmounted)`);
      await runTool('umount', ['-R', path]).catch((error: unknown) =>
        errors.push(`${path}: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
    this.shared.length = 0;
    await rm(join(this.opts.workDir, 'volumes'), { recursive: true, force: true });
    await rmdir(join('/sys/fs/cgroup', this.cgroupParent)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') errors.push(`cgroup ${this.cgroupParent}: ${error.message}`);
    });
    if (errors.length > 0) throw new Error(`stopping the chart's containers: ${errors.join('; ')}`);
  }

  /** What this kubelet would leave behind: runc containers, mounts under its work dir, its cgroup. */
  async leftovers(): Promise<string[]> {
    const found: string[] = [];
    const list = await runTool('runc', ['--root', this.runcRoot, 'list', '--format', 'json']).catch(() => 'null');
    for (const c of runcList.parse(JSON.parse(list || 'null')) ?? []) found.push(`runc container ${c.id}`);
    for (const m of await mountsUnder(this.opts.workDir)) found.push(`mount ${m}`);
    if (await exists(join('/sys/fs/cgroup', this.cgroupParent))) found.push(`cgroup /sys/fs/cgroup/${this.cgroupParent}`);
    return found;
  }
}

/** One HTTP(S) GET as a kubelet's probe: 2xx or 3xx is success; certificates are not checked (kubelet does not either). */
export function probeOnce(p: HttpProbe, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port: p.port, path: p.path, method: 'GET', timeout: timeoutMs, rejectUnauthorized: false };
    const req = (p.scheme === 'https' ? httpsRequest : httpRequest)(options, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Mount points at or under `dir` in this process's mount namespace (the host's). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Names in a directory, none when it is missing. */
export async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
