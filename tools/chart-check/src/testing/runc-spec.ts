import type { UnpackedImage } from './image-unpack';
import type { ContainerPlan } from './pod-plan';

/** Capabilities by number (Linux 5.9+). */
const CAPS_BY_NUMBER = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
].map((c) => `CAP_${c}`);
/** What a container runtime grants by default (containerd's list). */
const DEFAULT_CAPS = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
].map((c) => `CAP_${c}`);

export interface SpecPaths {
  /** The container's root (an overlay over the image's). */
  rootfs: string;
  hostname: string;
  /** /etc/hosts of the pod: Service names on loopback. */
  hostsFile: string;
  /** Host directory of each mount of the plan, in the plan's order. */
  mountSources: string[];
  cgroupsPath: string;
  /** What "privileged" grants: every capability this host's runtime has (its own bounding set), as Docker and containerd do. */
  hostCaps: readonly string[];
}

type Mount = { destination: string; type: string; source: string; options: string[] };

/**
 * The OCI runtime spec of one planned container, as a CRI runtime would write
 * it: the image's entrypoint and cmd replaced by the container's command and
 * args the Kubernetes way, env over the image's, the pod's mounts with their
 * propagation, privileged as "everything" (all capabilities, no seccomp, no
 * masked paths, every device), and always the host's network (every pod here
 * shares the host's loopback, where Service names point).
 */
export function runtimeSpec(c: ContainerPlan, image: UnpackedImage, paths: SpecPaths): Record<string, unknown> {
  const args = c.command ? [...c.command, ...c.args] : [...image.entrypoint, ...(c.args.length > 0 ? c.args : image.cmd)];
  if (args.length === 0) throw new Error(`${c.pod}/${c.name}: neither the container nor the image ${image.reference} names a process`);
  const env = new Map(image.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
  for (const [k, v] of Object.entries(c.env)) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  env.set('HOSTNAME', paths.hostname);
  const [uid, gid] = c.user ? [c.user.uid, c.user.gid] : imageUser(image);
  const caps = c.privileged ? [...paths.hostCaps] : c.dropAllCaps ? [] : DEFAULT_CAPS;
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', c.privileged ? 'rw' : 'ro'] },
  ];
  if (!c.mounts.some((m) => m.mountPath === '/sys/fs/cgroup'))
    mounts.push({
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    });
  mounts.push({ destination: '/etc/hosts', type: 'bind', source: paths.hostsFile, options: ['rbind', 'ro'] });
  c.mounts.forEach((m, i) => {
    const ro = m.kind === 'files' || m.readOnly;
    const propagation = m.kind === 'host' ? m.propagation : 'rprivate';
    mounts.push({
      destination: m.mountPath,
      type: 'bind',
      source: paths.mountSources[i]!,
      options: ['rbind', ro ? 'ro' : 'rw', propagation],
    });
  });
  const propagations = c.mounts.flatMap((m) => (m.kind === 'host' ? [m.propagation] : []));
  const namespaces = [{ type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, ...(c.hostPID ? [] : [{ type: 'pid' }])];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid },
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: image.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: c.noNewPrivileges && !c.privileged,
    },
    root: { path: paths.rootfs, readonly: c.readOnlyRoot },
    hostname: paths.hostname,
    mounts,
    linux: {
      cgroupsPath: paths.cgroupsPath,
      namespaces,
      ...(propagations.includes('rshared')
        ? { rootfsPropagation: 'rshared' }
        : propagations.includes('rslave')
          ? { rootfsPropagation: 'rslave' }
          : {}),
      resources: c.privileged ? { devices: [{ allow: true, access: 'rwm' }] } : { devices: [{ allow: false, access: 'rwm' }] },
      ...(c.privileged
        ? {}
        : {
            maskedPaths: [
              '/proc/acpi',
              '/proc/kcore',
              '/proc/keys',
              '/proc/latency_stats',
              '/proc/timer_list',
              '/proc/timer_stats',
              '/proc/sched_debug',
              '/proc/scsi',
              '/sys/firmware',
            ],
            readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
          }),
    },
  };
}

/** The capabilities of a CapBnd mask (as /proc/<pid>/status shows it, hex). */
export function capsOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return CAPS_BY_NUMBER.filter((_c, i) => (mask >> BigInt(i)) & 1n);
}

/** The image's USER as numbers (names are not resolved here: warmpod's images use numbers). */
function imageUser(image: UnpackedImage): [number, number] {
  if (image.user === '') return [0, 0];
  const [u, g] = image.user.split(':');
  const uid = Number(u);
  const gid = g === undefined ? uid : Number(g);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`${image.reference}: USER "${image.user}" is not numeric`);
  return [uid, gid];
}
