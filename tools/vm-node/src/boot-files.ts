import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { VmAssets } from './assets';
import { VmNodeError } from './errors';
import { userNetdev, type GuestForward, type HostForward } from './forwards';
import { envLines, GUEST_PATH, shellQuote } from './guest-exec';

/** Where the read-write share is mounted inside the guest. */
export const GUEST_SHARE_DIR = '/run/vm-node/share';
/** The workload's pid inside the guest, written by workload.sh before it execs the command. */
export const GUEST_WORKLOAD_PID_FILE = '/run/vm-node/workload.pid';
export const CONTROL_PORT_NAME = 'warmpod.ctl';

export function findInPath(binary: string): string | undefined {
  if (binary.includes('/')) return existsSync(binary) ? binary : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function checkPlainPath(path: string, what: string): void {
  // QEMU option values and the kernel command line are split on commas and spaces.
  if (/[\s,"']/.test(path)) throw new VmNodeError(`${what} path "${path}" contains a space, comma or quote`);
}

export interface BootFiles {
  guestAgentScript: string;
  preloadModules: string[];
  command?: string[];
  env?: Record<string, string>;
  cwd?: string;
  guestForwards: Required<GuestForward>[];
}

/** Writes what the guest reads from the share at boot: inittab, workload.sh, loopback. */
export async function writeBootFiles(share: string, f: BootFiles): Promise<void> {
  await writeFile(
    join(share, 'inittab'),
    [
      `::respawn:/run/vm-node/bin/sh ${f.guestAgentScript} ${GUEST_SHARE_DIR}`,
      ...(f.preloadModules.length > 0 ? [`::once:/run/vm-node/bin/modprobe -a -q ${f.preloadModules.join(' ')}`] : []),
      '::ctrlaltdel:/run/vm-node/bin/poweroff',
      '::shutdown:/run/vm-node/bin/busybox sync',
      '',
    ].join('\n'),
  );
  await rm(join(share, 'workload.sh'), { force: true });
  if (f.command && f.command.length > 0) {
    const env = { PATH: GUEST_PATH, HOME: '/root', LANG: 'C.UTF-8', ...f.env };
    await writeFile(
      join(share, 'workload.sh'),
      [
        ...envLines(env),
        ...(f.cwd ? [`cd ${shellQuote(f.cwd)} || exit 126`] : []),
        // exec keeps the pid: signalWorkload() reaches the command itself
        `echo $$ >${GUEST_WORKLOAD_PID_FILE}`,
        `exec ${f.command.map(shellQuote).join(' ')}`,
        '',
      ].join('\n'),
    );
  }
  const loopback = f.guestForwards.filter((g) => g.loopback).map((g) => `${g.guestPort} ${g.guestIp}\n`);
  if (loopback.length > 0) await writeFile(join(share, 'loopback'), loopback.join(''));
  else await rm(join(share, 'loopback'), { force: true });
}

export interface QemuMachine {
  assets: VmAssets;
  useBzImage: boolean;
  hostname: string;
  memoryMiB: number;
  cpus: number;
  tbSizeMiB: number;
  kernelArgs: string[];
  consoleLog: string;
  share: string;
  busybox: string;
  guestForwards: Required<GuestForward>[];
  hostForwards: HostForward[];
  controlSocket: string;
  qmpSocket: string;
}

/** QEMU's command line: TCG (never KVM here), the host / read-only over 9p, user networking only. */
export function qemuArgs(m: QemuMachine): string[] {
  const kernelArgs = [
    'console=ttyS0',
    'panic=-1',
    'quiet',
    'loglevel=3',
    `vmnode.modules=${m.assets.modules}`,
    `vmnode.hostname=${m.hostname}`,
    ...m.kernelArgs,
  ];
  return [
    '-name',
    `warmpod-vm-${m.hostname}`,
    '-M',
    'pc',
    '-accel',
    `tcg,thread=multi,tb-size=${m.tbSizeMiB}`,
    '-cpu',
    'max',
    '-smp',
    String(m.cpus),
    '-m',
    String(m.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    m.useBzImage ? m.assets.bzImage : m.assets.kernel,
    '-initrd',
    m.assets.initrd,
    '-append',
    kernelArgs.join(' '),
    '-chardev',
    `file,id=con,path=${m.consoleLog},append=on`,
    '-serial',
    'chardev:con',
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${m.share},mount_tag=vmshare,security_model=passthrough,multidevs=remap`,
    '-netdev',
    userNetdev(m.guestForwards, m.hostForwards, m.busybox),
    '-device',
    'virtio-net-pci,netdev=n0',
    '-device',
    'virtio-serial-pci',
    '-chardev',
    `socket,id=ctl,path=${m.controlSocket}`,
    '-device',
    `virtserialport,chardev=ctl,name=${CONTROL_PORT_NAME}`,
    '-chardev',
    `socket,id=qmp,path=${m.qmpSocket}`,
    '-mon',
    'chardev=qmp,mode=control',
  ];
}
