import { readFile } from 'node:fs/promises';

/** CRIU's restore split at lines its log always has (ms), for profiling a restore. */
export interface CriuRestorePhases {
  /** Start -> "Reading image tree": mostly kernel-feature detection (or loading its cache). */
  criuKdatMs?: number;
  /** -> "Restoring mount namespace": images read, cgroup yard, root task forked, namespaces created. */
  criuForkMs?: number;
  /** -> "post-setup-namespaces": the container's mounts rebuilt (tmpfs contents untarred). */
  criuMountsMs?: number;
  /** -> "network-unlock": files, memory, restorer blob, runc's post-restore hook. */
  criuTasksMs?: number;
  /** -> the last line: network unlocked, tasks caught and resumed. */
  criuResumeMs?: number;
  criuTotalMs?: number;
}

/** Timestamps CRIU puts before each log line: `(00.123456) ...`, seconds since it started. */
const STAMPED = /^\((\d+\.\d+)\)\s?(.*)$/;
const MARKS: Array<[keyof CriuRestorePhases, RegExp]> = [
  ['criuKdatMs', /^Reading image tree/],
  ['criuForkMs', /mnt: Restoring mount namespace/],
  ['criuMountsMs', /^Running post-setup-namespaces scripts/],
  ['criuTasksMs', /^Running network-unlock scripts/],
];

/** Reads a restore.log (runc has CRIU log at level 4, with timestamps); phases not found stay undefined. */
export async function criuRestorePhases(logPath: string): Promise<CriuRestorePhases> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  const at = new Map<keyof CriuRestorePhases, number>();
  let last: number | undefined;
  for (const line of text.split('\n')) {
    const m = STAMPED.exec(line);
    if (!m) continue;
    last = Number(m[1]) * 1000;
    for (const [key, mark] of MARKS) if (!at.has(key) && mark.test(m[2]!)) at.set(key, last);
  }
  const phases: CriuRestorePhases = {};
  let from = 0;
  for (const [key] of MARKS) {
    const to = at.get(key);
    if (to === undefined) return { ...phases, ...(last === undefined ? {} : { criuTotalMs: last }) };
    phases[key] = to - from;
    from = to;
  }
  return last === undefined ? phases : { ...phases, criuResumeMs: last - from, criuTotalMs: last };
}
