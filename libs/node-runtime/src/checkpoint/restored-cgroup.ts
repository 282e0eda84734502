import { readFile, readlink, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf, type Logger } from '@warmpod/observability';
import { readMounts } from '../mountinfo';

/**
 * runc 1.1 with CRIU on cgroup v2 restores the processes into the cgroup
 * they were dumped from (the checkpointed pod's, recreated by CRIU when that
 * pod is gone), not into the new pod's: the new pod's limits would not apply
 * and the old path would leak (runc >= 1.2 fixes this with
 * `--manage-cgroups-mode ignore`). This moves every process of the restored
 * pod (its pid namespace) into the pod's own cgroup, then removes the old
 * cgroup if nothing is left in it (rmdir refuses a cgroup in use, so a live
 * source pod is never touched). Returns the cgroup the processes came from,
 * or undefined when they were already where they belong. cgroup v2 only.
 */
export async function adoptRestoredProcesses(initPid: number, expectedPath: string, logger: Logger): Promise<string | undefined> {
  const unified = (await readMounts()).find((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup');
  const actual = /^0::(.*)$/m.exec(await readFile(`/proc/${initPid}/cgroup`, 'utf8'))?.[1];
  if (unified === undefined || actual === undefined || actual === expectedPath) return undefined;
  const pidNs = await readlink(`/proc/${initPid}/ns/pid`);
  const from = join(unified.mountPoint, actual);
  const into = join(unified.mountPoint, expectedPath, 'cgroup.procs');
  // Processes may fork while they are moved: go round until none of the pod's is left behind.
  for (let round = 0; round < 10; round++) {
    const pids = (await readFile(join(from, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const ours: string[] = [];
    for (const pid of pids) {
      if ((await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined)) === pidNs) ours.push(pid);
    }
    if (ours.length === 0) break;
    for (const pid of ours) {
      await writeFile(into, pid).catch((error: unknown) => {
        // A process that exited in the meantime is fine; anything else is reported.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      });
    }
  }
  await removeIfUnused(from, logger);
  logger.info({ initPid, from: actual, into: expectedPath }, 'moved restored processes into the pod cgroup');
  return actual;
}

/** rmdir of a cgroup: succeeds only when it has no processes and no children, so a cgroup in use is left alone. */
export async function removeIfUnused(cgroupDir: string, logger: Logger): Promise<void> {
  try {
    await rmdir(cgroupDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY')
      logger.warn({ cgroupDir, err: messageOf(error) }, 'could not remove a cgroup');
  }
}

/** The unified-hierarchy directory of a cgroup path, when cgroup v2 is mounted at /sys/fs/cgroup. */
export async function unifiedCgroupDir(path: string): Promise<string | undefined> {
  const unified = (await readMounts()).find((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup');
  return unified ? join(unified.mountPoint, path) : undefined;
}
