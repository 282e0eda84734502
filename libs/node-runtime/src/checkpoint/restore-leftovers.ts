import { readdir, readFile, readlink, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { runCommand } from '../command';
import { readMounts } from '../mountinfo';

export interface RestoreLeftoversScope {
  /** The new pod's cgroup directory (its whole subtree is the attempt's). */
  podCgroupDir?: string;
  /** The checkpointed pod's cgroup directory, where runc 1.1 + CRIU put restored tasks. */
  sourceCgroupDir?: string;
  /** Pid namespace (`pid:[...]`) of a live source pod on this node: its processes are never touched. */
  keepPidNs?: string;
  /** The new pod's network namespace: nothing else lives there before the restore succeeded. */
  netnsPath?: string;
}

const GONE_WAIT_MS = 10_000;

/**
 * SIGKILLs every process a failed or stopped restore left behind. Killing
 * the restore shim's process group ends the shell, runc and CRIU, but not the
 * tasks CRIU was restoring: they carry the checkpointed session and process
 * group ids, so they are found by the pod's cgroup, the source pod's cgroup
 * and the pod's network namespace instead. Resolves once they are gone (or
 * after 10 s); returns the pids it killed.
 */
export async function killRestoreLeftovers(scope: RestoreLeftoversScope, logger: Logger): Promise<number[]> {
  const pids = new Set<number>();
  if (scope.podCgroupDir) {
    // cgroup v2 >= 5.14: the kernel kills the whole subtree, forks included.
    await writeFile(join(scope.podCgroupDir, 'cgroup.kill'), '1').catch(() => undefined);
    for (const pid of await cgroupPids(scope.podCgroupDir)) pids.add(pid);
  }
  if (scope.sourceCgroupDir) {
    for (const pid of await cgroupPids(scope.sourceCgroupDir)) {
      if (scope.keepPidNs === undefined || (await pidNs(pid)) !== scope.keepPidNs) pids.add(pid);
    }
  }
  if (scope.netnsPath) for (const pid of await pidsInNetns(scope.netnsPath)) pids.add(pid);
  pids.delete(process.pid);
  pids.delete(1);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited in the meantime.
    }
  }
  if (pids.size > 0) {
    logger.warn({ pids: [...pids] }, 'killed processes left by a failed restore');
    const deadline = Date.now() + GONE_WAIT_MS;
    for (;;) {
      const left = await Promise.all([...pids].map(alive));
      if (!left.includes(true) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return [...pids];
}

/**
 * Unmounts whatever a killed CRIU left mounted under `dir` (its cgroup yard,
 * `.criu.cgyard.*`), deepest first, so the directory can be removed.
 */
export async function unmountUnder(dir: string, logger: Logger): Promise<void> {
  const base = await realpath(dir).catch(() => undefined);
  if (base === undefined) return;
  const mounts = (await readMounts())
    .map((m) => m.mountPoint)
    .filter((mp) => mp === base || mp.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of new Set(mounts)) {
    await runCommand('umount', ['-l', mountPoint]).catch((error: unknown) =>
      logger.warn({ mountPoint, err: messageOf(error) }, 'could not unmount a CRIU leftover'),
    );
  }
}

export async function pidNs(pid: number): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
}

async function cgroupPids(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => Number.parseInt(line, 10))
    .filter((pid) => pid > 0);
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const child of children) if (child.isDirectory()) pids.push(...(await cgroupPids(join(dir, child.name))));
  return pids;
}

async function pidsInNetns(netnsPath: string): Promise<number[]> {
  const ns = await stat(netnsPath).catch(() => undefined);
  if (ns === undefined) return [];
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await stat(`/proc/${name}/ns/net`).catch(() => undefined);
    if (s !== undefined && s.ino === ns.ino && s.dev === ns.dev) found.push(Number(name));
  }
  return found;
}

/** Running, or at least not yet a zombie (a zombie has left its cgroup and holds nothing). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) Z /s.test(stat);
}
