import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { messageOf } from '@warmpod/observability';
import { exists } from '../files';
import { readMounts } from '../mountinfo';

/** The pod's CPU limit as its runtime spec gives it (cgroup v2 `cpu.max`: quota per period, µs). */
export interface CpuLimit {
  quota: number;
  period: number;
}

const bundleCpuSchema = z.looseObject({
  linux: z.looseObject({
    resources: z
      .looseObject({
        cpu: z.looseObject({ quota: z.number().int().positive().optional(), period: z.number().int().positive().optional() }).optional(),
      })
      .optional(),
  }),
});

/** The directory, inside a pod's bundle, of the bundle `runc restore` runs from. */
export const RESTORE_BUNDLE_DIR = 'restore-bundle';

/**
 * runc 1.1 moves CRIU itself into the new pod's cgroup before restoring
 * (its `criuApplyCgroups`), so every step of CRIU's work — kernel features,
 * the mount namespace, the network unlock — runs under the pod's CPU quota:
 * at the default 0.1 CPU a ~0.3 s restore takes ~3 s. The restore therefore
 * runs from a copy of the pod's config.json without the quota (written to
 * `<bundle>/restore-bundle/`; the pod's own config.json stays what it is),
 * and `applyCpuLimit` sets the quota once the restored processes exist.
 * Returns the bundle dir to give runc and the limit to apply, if any.
 */
export async function writeRestoreBundle(bundleDir: string): Promise<{ dir: string; cpu: CpuLimit | undefined }> {
  const path = join(bundleDir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path} cannot be read as JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = bundleCpuSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${path} is not a runtime spec: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const cpu = parsed.data.linux.resources?.cpu;
  const limit = cpu?.quota !== undefined ? { quota: cpu.quota, period: cpu.period ?? 100_000 } : undefined;
  const dir = join(bundleDir, RESTORE_BUNDLE_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const spec = parsed.data;
  const resources = spec.linux.resources;
  const unthrottled =
    resources?.cpu === undefined
      ? spec
      : { ...spec, linux: { ...spec.linux, resources: { ...resources, cpu: withoutQuota(resources.cpu) } } };
  await writeFile(join(dir, 'config.json'), JSON.stringify(unthrottled));
  return { dir, cpu: limit };
}

function withoutQuota(cpu: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...cpu };
  delete rest['quota'];
  delete rest['period'];
  return rest;
}

/** Where a pod's CPU quota is written: cgroup v2's `cpu.max`, or v1's cpu controller (`cpu.cfs_*`). */
export type CpuLimitTarget = { version: 2; dir: string } | { version: 1; dir: string };

/** The cgroup directory holding the CPU quota of `cgroupsPath`; undefined when no cpu controller is mounted. */
export async function cpuLimitTarget(cgroupsPath: string): Promise<CpuLimitTarget | undefined> {
  const mounts = await readMounts();
  if (mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup')) {
    return { version: 2, dir: join('/sys/fs/cgroup', cgroupsPath) };
  }
  // A v1 controller mount is named for its controllers, e.g. `cpu` or `cpu,cpuacct`.
  const cpu = mounts.find((m) => m.fsType === 'cgroup' && basename(m.mountPoint).split(',').includes('cpu'));
  return cpu === undefined ? undefined : { version: 1, dir: join(cpu.mountPoint, cgroupsPath) };
}

/** Writes the pod's CPU limit into its cgroup: what runc would have set had the restore not run without it. */
export async function applyCpuLimit(target: CpuLimitTarget, limit: CpuLimit): Promise<void> {
  if (target.version === 2) {
    await writeFile(join(target.dir, 'cpu.max'), `${limit.quota} ${limit.period}`);
    return;
  }
  // The period first: the kernel checks the quota against the period in force.
  await writeFile(join(target.dir, 'cpu.cfs_period_us'), String(limit.period));
  await writeFile(join(target.dir, 'cpu.cfs_quota_us'), String(limit.quota));
}

/**
 * A restored pod's quota, set once: when the returned function is called, or
 * by a timer at `boundMs` at the latest (0: no timer). A cgroup already gone
 * (a failed restore torn down) has nothing to limit: not an error. A failure
 * of the timer's write goes to `onTimerError`; the caller's call rejects.
 */
export function cpuLimitOnce(
  target: CpuLimitTarget,
  limit: CpuLimit,
  boundMs: number,
  onTimerError: (error: unknown) => void,
): () => Promise<void> {
  let applied: Promise<void> | undefined;
  const apply = (): Promise<void> =>
    (applied ??= applyCpuLimit(target, limit).catch(async (error: unknown) => {
      if (await exists(target.dir)) throw new Error(`could not set the CPU quota in ${target.dir}: ${messageOf(error)}`, { cause: error });
    }));
  if (!(boundMs > 0)) return apply;
  const timer = setTimeout(() => void apply().catch(onTimerError), boundMs);
  timer.unref();
  return () => {
    clearTimeout(timer);
    return apply();
  };
}

/**
 * Lifts the CPU quota of a cgroup and returns the one it had (undefined:
 * none). CRIU's parasite code runs inside the dumped tasks, so a dump of a
 * 0.1-CPU pod is throttled like its restore; the agent dumps a paused pod,
 * whose tasks run only CRIU's code meanwhile.
 */
export async function liftCpuLimit(target: CpuLimitTarget): Promise<CpuLimit | undefined> {
  if (target.version === 2) {
    const [quota, period] = (await readFile(join(target.dir, 'cpu.max'), 'utf8')).trim().split(/\s+/);
    if (quota === undefined || quota === 'max') return undefined;
    await writeFile(join(target.dir, 'cpu.max'), `max ${period ?? 100_000}`);
    return { quota: Number(quota), period: Number(period ?? 100_000) };
  }
  const quota = Number((await readFile(join(target.dir, 'cpu.cfs_quota_us'), 'utf8')).trim());
  if (!(quota > 0)) return undefined;
  const period = Number((await readFile(join(target.dir, 'cpu.cfs_period_us'), 'utf8')).trim());
  await writeFile(join(target.dir, 'cpu.cfs_quota_us'), '-1');
  return { quota, period };
}

const TRACER = /^TracerPid:\s*(\d+)$/m;

/**
 * runc writes the pid file at CRIU's post-restore step, while CRIU still
 * holds the restored tasks under ptrace: it unlocks the network and resumes
 * them after that. The quota goes on once CRIU let go of the pod's init
 * (TracerPid 0), else CRIU's last steps would run under it. /proc has no
 * change events: read every 2 ms, a few reads in all; at most `timeoutMs`.
 */
export async function untilUntraced(pid: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const tracer = TRACER.exec(status)?.[1];
    if (tracer === undefined || tracer === '0') return;
    await sleep(2);
  }
}
