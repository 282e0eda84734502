import { findInPath } from './boot-files';
import { VmNodeError } from './errors';
import { checkHostForwards, normaliseGuestForwards, type GuestForward, type HostForward } from './forwards';
import { checkEnv } from './guest-exec';

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
  'inet_diag',
  'tcp_diag',
  'udp_diag',
  'raw_diag',
  'unix_diag',
  'netlink_diag',
  'af_packet_diag',
  'veth',
  'nf_tables',
];

export interface VmNodeStats {
  rssKiB: number;
  peakRssKiB: number;
}

export interface CheckedVmNodeOptions {
  bootTimeoutMs: number;
  hostname: string;
  guestForwards: Required<GuestForward>[];
  hostForwards: HostForward[];
  preloadModules: string[];
  /** Absolute paths found in PATH. */
  qemu: string;
  busybox: string;
}

/** Validates start options (before anything is written or spawned) and fills in defaults. */
export function checkVmNodeOptions(opts: VmNodeOptions): CheckedVmNodeOptions {
  const hostname = opts.hostname ?? 'warmpod-vm';
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(hostname)) throw new VmNodeError(`bad hostname "${hostname}"`);
  const guestForwards = normaliseGuestForwards(opts.guestForwards ?? []);
  const hostForwards = opts.hostForwards ?? [];
  checkHostForwards(hostForwards);
  checkEnv(opts.env);
  const preloadModules = opts.preloadModules ?? CRIU_MODULES;
  for (const m of preloadModules) if (!/^[A-Za-z0-9_-]+$/.test(m)) throw new VmNodeError(`bad module name "${m}"`);
  const qemu = findInPath(opts.qemuBinary ?? 'qemu-system-x86_64');
  if (!qemu) throw new VmNodeError(`${opts.qemuBinary ?? 'qemu-system-x86_64'} not found (apt-get install qemu-system-x86)`);
  const busybox = findInPath('busybox');
  if (!busybox) throw new VmNodeError('busybox not found (apt-get install busybox-static)');
  return { bootTimeoutMs: opts.bootTimeoutMs ?? 90_000, hostname, guestForwards, hostForwards, preloadModules, qemu, busybox };
}
