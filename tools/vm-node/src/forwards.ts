import { VmNodeError } from './errors';

/** The guest's own address on QEMU user networking. */
export const GUEST_IP = '10.0.2.15';
/** The address a guest uses for host services by default (one guestfwd each). */
export const DEFAULT_GUEST_FORWARD_IP = '10.0.2.100';
/** The only host address a forward may touch, in either direction. */
export const HOST_IP = '127.0.0.1';

/** A host service the guest reaches at guestIp:guestPort; QEMU connects to 127.0.0.1:hostPort. */
export interface GuestForward {
  /** In 10.0.2.0/24, not the gateway (.2), DNS (.3) or the guest (.15). Default 10.0.2.100. */
  guestIp?: string;
  guestPort: number;
  /** Default: guestPort. */
  hostPort?: number;
  /**
   * Also answer on 127.0.0.1:guestPort inside the guest (a forwarder started before READY), so a
   * host service keeps its loopback name: pinned image references say 127.0.0.1:<registry port>.
   */
  loopback?: boolean;
}

/** A guest service the host reaches at 127.0.0.1:hostPort. */
export interface HostForward {
  /** 0 or absent: a free port, chosen by the kernel when QEMU binds it (see VmNode.hostPortFor). */
  hostPort?: number;
  guestPort: number;
}

export function checkPort(port: number, what: string, allowZero = false): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw new VmNodeError(`${what}: bad port ${port}`);
}

export function normaliseGuestForwards(forwards: GuestForward[]): Required<GuestForward>[] {
  const seen = new Set<string>();
  return forwards.map((f) => {
    const guestIp = f.guestIp ?? DEFAULT_GUEST_FORWARD_IP;
    const m = /^10\.0\.2\.(\d{1,3})$/.exec(guestIp);
    const last = m ? Number(m[1]) : -1;
    if (!m || last < 1 || last > 254 || [2, 3, 15].includes(last)) {
      throw new VmNodeError(`guest forward address ${guestIp} must be in 10.0.2.0/24 and not .2, .3 or .15`);
    }
    checkPort(f.guestPort, 'guest forward');
    const hostPort = f.hostPort ?? f.guestPort;
    checkPort(hostPort, 'guest forward host side');
    const key = `${guestIp}:${f.guestPort}`;
    if (seen.has(key)) throw new VmNodeError(`guest forward ${key} given twice`);
    seen.add(key);
    return { guestIp, guestPort: f.guestPort, hostPort, loopback: f.loopback ?? false };
  });
}

/** Validates host forwards: good ports, each guest port forwarded once. */
export function checkHostForwards(forwards: HostForward[]): void {
  const guestPortsSeen = new Set<number>();
  for (const f of forwards) {
    checkPort(f.guestPort, 'host forward');
    checkPort(f.hostPort ?? 0, 'host forward host side', true);
    if (guestPortsSeen.has(f.guestPort)) throw new VmNodeError(`host forward to guest port ${f.guestPort} given twice`);
    guestPortsSeen.add(f.guestPort);
  }
}

/**
 * The `-netdev user` value: restrict=on (the guest reaches nothing but these forwards), and
 * every forward touches 127.0.0.1 on the host only. A guest forward is a `cmd:` forward: QEMU
 * runs `busybox nc 127.0.0.1 PORT` per guest connection. (The chardev form,
 * `guestfwd=...-tcp:127.0.0.1:PORT`, opens ONE host connection at QEMU start and funnels every
 * guest connection into it: replies go to the wrong connection; unusable for Redis or gRPC.)
 */
export function userNetdev(guestForwards: Required<GuestForward>[], hostForwards: HostForward[], busybox: string): string {
  const parts = ['user', 'id=n0', 'restrict=on'];
  for (const f of guestForwards) parts.push(`guestfwd=tcp:${f.guestIp}:${f.guestPort}-cmd:${busybox} nc ${HOST_IP} ${f.hostPort}`);
  for (const f of hostForwards) parts.push(`hostfwd=tcp:${HOST_IP}:${f.hostPort ?? 0}-${GUEST_IP}:${f.guestPort}`);
  return parts.join(',');
}

/** The HMP command adding one host forward at run time. */
export function hostForwardAddCommand(guestPort: number, hostPort: number): string {
  return `hostfwd_add n0 tcp:${HOST_IP}:${hostPort}-${GUEST_IP}:${guestPort}`;
}

/** The HMP command removing the host forward bound at 127.0.0.1:hostPort. */
export function hostForwardRemoveCommand(hostPort: number): string {
  return `hostfwd_remove n0 tcp:${HOST_IP}:${hostPort}`;
}

/** Host ports of the forwards QEMU bound, from `info usernet`: guest port -> host port. */
export function parseHostForwards(infoUsernet: string): Map<number, number> {
  const ports = new Map<number, number>();
  const re = /TCP\[HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s+10\.0\.2\.15\s+(\d+)/g;
  for (let m = re.exec(infoUsernet); m; m = re.exec(infoUsernet)) ports.set(Number(m[2]), Number(m[1]));
  return ports;
}
