import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, readlink, rm, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { messageOf } from '@warmpod/observability';
import { readCriuLog } from './criu-log';
import { criuEnvironment, type CriuMode } from './criu-mode';
import type { CriuNetworkLock } from './criu-network-lock';

export interface CriuProbeOptions {
  criuPath: string;
  mode: CriuMode;
  /** Where the probe's temporary directory is made (and removed). */
  workDir: string;
  /** Deadline of the dump and, separately, of the restore. */
  timeoutMs: number;
  /**
   * Probe this network lock: the probe then runs in a network namespace of
   * its own, given to CRIU as external the way runc gives it a pod's, so the
   * dump really locks that namespace and the restore really unlocks it.
   */
  networkLock?: CriuNetworkLock;
}

export type CriuProbeResult =
  { ok: true; dumpMs: number; restoreMs: number } | { ok: false; step: 'dump' | 'restore'; hung: boolean; reason: string };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A real `criu dump` and `criu restore -d` of a tiny process of our own,
 * each with a deadline. The probe is a lone `sleep` in its own session:
 * a shell loop's children would outlive it as zombies holding its process
 * group id, and CRIU cannot restore a pid still in use. On a deadline
 * criu's process group is killed (a hung dump keeps the task stopped until
 * its tracer dies), then the probe; the temporary directory always goes.
 * With `networkLock`, the probe is `unshare --net sleep` (the same pid, in a
 * new netns) and the restore puts it back into that netns, held open here.
 */
export async function probeDumpRestore(opts: CriuProbeOptions): Promise<CriuProbeResult> {
  const workDir = resolve(opts.workDir);
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(workDir, 'criu-probe-'));
  const images = join(dir, 'images');
  let probe: ChildProcess | undefined;
  let pid: number | undefined;
  let netns: FileHandle | undefined;
  try {
    await mkdir(images, { mode: 0o700 });
    const [command, args] = opts.networkLock ? ['unshare', ['--net', 'sleep', '3600']] : ['sleep', ['3600']];
    probe = spawn(command, args, { cwd: dir, detached: true, stdio: 'ignore' });
    const probeExit = exitOf(probe);
    pid = await spawned(probe);
    const dumpArgs = ['dump', '-t', String(pid), '-D', images, '-o', 'dump.log', '-v4'];
    const restoreArgs = ['restore', '-d', '-D', images, '-o', 'restore.log', '-v4'];
    if (opts.networkLock) {
      netns = await probeNetns(pid, dir);
      const { ino } = await netns.stat();
      dumpArgs.push('--network-lock', opts.networkLock, '--external', `net[${ino}]:${PROBE_NETNS_KEY}`);
      restoreArgs.push('--inherit-fd', `fd[3]:${PROBE_NETNS_KEY}`);
    }
    const dump = await runCriu(opts, dumpArgs);
    if (!dump.ok) return { ok: false, step: 'dump', hung: dump.hung, reason: await why(dump, join(images, 'dump.log')) };
    // A dump ends its task; its pid must be reaped before CRIU can hand the same pid to the restored one.
    await probeExit;
    const restore = await runCriu(opts, restoreArgs, netns?.fd);
    if (!restore.ok) return { ok: false, step: 'restore', hung: restore.hung, reason: await why(restore, join(images, 'restore.log')) };
    const state = await taskState(pid);
    if (state === undefined || !(await isProbe(pid, dir))) return { ok: false, step: 'restore', hung: false, reason: 'no restored task' };
    if (/[TtZX]/.test(state)) return { ok: false, step: 'restore', hung: false, reason: `the restored task is in state ${state}` };
    return { ok: true, dumpMs: dump.ms, restoreMs: restore.ms };
  } catch (error) {
    return { ok: false, step: 'dump', hung: false, reason: messageOf(error) };
  } finally {
    if (probe?.exitCode === null && probe.signalCode === null) killGroup(probe.pid);
    // After the dump the pid may be a restored task (no longer our child): only a task with the probe's cwd is ours.
    if (pid !== undefined && (await isProbe(pid, dir))) killGroup(pid);
    await netns?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

type CriuRun = { ok: true; ms: number } | { ok: false; hung: boolean; exit?: Exit; stderr: string; ms: number };

/** The key the probe's netns goes by in `--external net[...]` and `--inherit-fd`. */
const PROBE_NETNS_KEY = 'warmpod-probe-net';

/** The probe's netns, held open so it outlives the dumped task for the restore to join; refused while it is still the agent's own. */
async function probeNetns(pid: number, dir: string): Promise<FileHandle> {
  // `unshare` execs `sleep` once the namespace is made: wait for that, or the netns seen is still the agent's.
  for (let i = 0; i < 200 && (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() !== 'sleep'; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const [own, probe] = await Promise.all([readlink('/proc/self/ns/net'), readlink(`/proc/${pid}/ns/net`)]);
  if (own === probe || !(await isProbe(pid, dir))) throw new Error('the probe did not get a network namespace of its own (unshare --net)');
  return open(`/proc/${pid}/ns/net`, 'r');
}

/** One criu command in its own process group, killed with that group at the deadline; `passFd` becomes its fd 3. */
async function runCriu(opts: CriuProbeOptions, args: string[], passFd?: number): Promise<CriuRun> {
  const started = Date.now();
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'ignore', 'pipe'];
  if (passFd !== undefined) stdio.push(passFd);
  const criu = spawn(opts.criuPath, args, { env: criuEnvironment(opts.mode), detached: true, stdio });
  let stderr = '';
  criu.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = exitOf(criu);
  try {
    await spawned(criu);
  } catch (error) {
    return { ok: false, hung: false, stderr: messageOf(error), ms: Date.now() - started };
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((r) => (timer = setTimeout(() => r('deadline'), opts.timeoutMs)));
  const outcome = await Promise.race([exited, deadline]);
  clearTimeout(timer);
  if (outcome === 'deadline') {
    killGroup(criu.pid);
    await exited;
    return { ok: false, hung: true, stderr, ms: Date.now() - started };
  }
  const ms = Date.now() - started;
  return outcome.code === 0 ? { ok: true, ms } : { ok: false, hung: false, exit: outcome, stderr, ms };
}

async function why(run: Exclude<CriuRun, { ok: true }>, logPath: string): Promise<string> {
  const log = await readCriuLog(logPath).catch(() => ({ failure: undefined, tail: '' }));
  if (run.hung) {
    const last = log.tail.trim().split('\n').at(-1)?.trim();
    return `did not finish within ${run.ms} ms${last ? ` (last log line: ${last})` : ''}`;
  }
  const exit = run.exit?.signal ? `killed by ${run.exit.signal}` : `exited with ${run.exit?.code ?? 'no code'}`;
  return `${exit}: ${log.failure ?? (run.stderr.trim().split('\n').at(-1) || 'no error in its log')}`;
}

function spawned(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
    child.once('error', reject);
  });
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}

/** The one-letter state of a task (`S`, `T`, `Z`, ...), undefined when there is none. */
async function taskState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? undefined : /\) (\S)/.exec(stat)?.[1];
}

async function isProbe(pid: number, dir: string): Promise<boolean> {
  return (await readlink(`/proc/${pid}/cwd`).catch(() => '')) === dir;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
