import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageConfig } from '@warmpod/registry';
import type { BaseRuntimeConfig } from '../runtime-spec';
import { LayerError } from './layer-error';

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * The base runtime config of an image, as `umoci unpack` wrote it into its
 * bundle: the same capabilities, mounts, masked paths and rlimits, with the
 * image's process (user resolved against the image's /etc/passwd and /etc/group).
 */
export async function baseRuntimeConfig(image: ImageConfig, lowerDirs: readonly string[]): Promise<BaseRuntimeConfig> {
  const user = await resolveUser(image.config?.User ?? '', lowerDirs);
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: true,
      user,
      args: [...(image.config?.Entrypoint ?? []), ...(image.config?.Cmd ?? [])],
      env: [...(image.config?.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']), 'TERM=xterm'],
      cwd: image.config?.WorkingDir || '/',
      capabilities: { bounding: CAPS, effective: CAPS, inheritable: CAPS, permitted: CAPS, ambient: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    hostname: 'warmpod',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/kcore',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** A file of the merged image root (top layer first; a whiteout hides it), or undefined. */
async function readImageFile(lowerDirs: readonly string[], rel: string): Promise<string | undefined> {
  for (const dir of lowerDirs) {
    const st = await lstat(join(dir, rel)).catch(() => undefined);
    if (!st) continue;
    return st.isFile() ? readFile(join(dir, rel), 'utf8') : undefined;
  }
  return undefined;
}

function table(text: string | undefined): string[][] {
  return (text ?? '').split('\n').map((line) => line.split(':'));
}

/** "user", "uid", "user:group", "uid:gid" as Docker and umoci read them. */
async function resolveUser(spec: string, lowerDirs: readonly string[]): Promise<{ uid: number; gid: number; additionalGids?: number[] }> {
  const [userPart = '', groupPart] = spec.split(':');
  const numeric = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);
  let uid = numeric(userPart);
  let gid: number | undefined;
  let userName: string | undefined;
  if (userPart !== '' && uid === undefined) {
    const row = table(await readImageFile(lowerDirs, 'etc/passwd')).find((r) => r[0] === userPart);
    if (!row) throw new LayerError(`image user "${userPart}" is not in the image's /etc/passwd`);
    uid = Number(row[2]);
    gid = Number(row[3]);
    userName = userPart;
  } else if (uid !== undefined) {
    const row = table(await readImageFile(lowerDirs, 'etc/passwd')).find((r) => r[2] === userPart);
    if (row) {
      gid = Number(row[3]);
      userName = row[0];
    }
  }
  const groups = table(await readImageFile(lowerDirs, 'etc/group'));
  if (groupPart !== undefined && groupPart !== '') {
    gid = numeric(groupPart) ?? Number(groups.find((r) => r[0] === groupPart)?.[2] ?? NaN);
    if (Number.isNaN(gid)) throw new LayerError(`image group "${groupPart}" is not in the image's /etc/group`);
  }
  const extra = userName
    ? groups
        .filter((r) => (r[3] ?? '').split(',').includes(userName))
        .map((r) => Number(r[2]))
        .filter((g) => Number.isInteger(g) && g !== gid)
    : [];
  return { uid: uid ?? 0, gid: gid ?? 0, ...(extra.length > 0 ? { additionalGids: extra } : {}) };
}
