import { join } from 'node:path';
import {
  buildVmAssets,
  CRIU_MODULES,
  defaultAssetsDir,
  ensureWorkerAgentBundle,
  GUEST_IP,
  GUEST_WORKER_AGENT_SCRIPT,
  VmNode,
  type GuestForward,
  type HostForward,
} from '@warmpod/vm-node';
import { freePortRange } from './host-ports';

/** Whether this machine can boot VM nodes (root, QEMU, busybox), and why not. */
export function vmNodesAvailable(): { ok: boolean; reason?: string } {
  return VmNode.available();
}

/** What the pod network needs in the guest: the CNI bridge plugin makes a bridge and veth pairs (no masquerade, no portmap). */
export const POD_NETWORK_MODULES = ['bridge', 'veth'];
const GUEST_DATA_ROOT = '/var/lib/warmpod';
/** The guest's name for host services (QEMU guestfwd; restrict=on lets nothing else out). */
const HOST_SERVICES_IP = '10.0.2.100';
/** iproute2 by path: guest scripts run under busybox sh, which prefers its own `ip` applet (no netns). */
const IP = '/sbin/ip';
/** The host name everything forwarded from the guest has, on the host. */
const HOST_IP = '127.0.0.1';

export interface VmWorkerNodeOptions {
  id: string;
  /** The agent's environment as a host node would get it; addresses are rewritten for the guest. */
  agentEnv: Record<string, string>;
  redisPort: number;
  schedulerGrpcPort: number;
  registryPort: number;
  workDir: string;
  memoryMiB: number;
  cpus: number;
  exposePorts: number;
  bootTimeoutMs: number;
}

/** The agent's node as the guest sees it, for leftover checks. */
interface GuestNode {
  dataDir: string;
  bridge: string;
  cgroupParent: string;
}

export interface VmWorkerNodeTimings {
  /** Bundle check or rebuild, asset check or build (ms). */
  bundleMs: number;
  assetsMs: number;
  /** QEMU spawn to the guest's READY (the agent process starts just before it). */
  bootMs: number;
  guestUptimeAtReady: number;
  /** The guest's READY to the node Ready in the API: the agent's start-up in the guest. */
  agentReadyMs?: number;
  bootAttempts: number;
}

/**
 * A cluster node whose worker agent (the single-file bundle) runs in a VmNode. Redis, the
 * scheduler's gRPC registry and the OCI registry are guest forwards to 127.0.0.1; the agent's
 * HTTP port and a range of exposed ports are forwarded one to one from 127.0.0.1 on the host,
 * so the agent reports 127.0.0.1:<port> and that is exactly where the host reaches it.
 */
export class VmWorkerNode {
  /** What the guest still held once the agent exited at stop (empty: clean). */
  leftoversAtStop: string[] | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly id: string,
    readonly vm: VmNode,
    private readonly guest: GuestNode,
    readonly agentPort: number,
    readonly exposeRange: { from: number; to: number },
    readonly timings: VmWorkerNodeTimings,
  ) {}

  static async start(o: VmWorkerNodeOptions): Promise<VmWorkerNode> {
    let t = Date.now();
    const bundle = await ensureWorkerAgentBundle();
    const bundleMs = Date.now() - t;
    t = Date.now();
    await buildVmAssets(defaultAssetsDir());
    const assetsMs = Date.now() - t;
    const boot = async (attempt: number): Promise<VmWorkerNode> => {
      // one agent port, then the exposed ones; each host port P forwards to guest port P
      const base = await freePortRange(o.exposePorts + 1);
      const exposeRange = { from: base + 1, to: base + o.exposePorts };
      const redis = new URL(o.agentEnv['WARMPOD_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
      const env: Record<string, string> = {
        ...o.agentEnv,
        WARMPOD_REDIS_URL: `redis://${HOST_SERVICES_IP}:${o.redisPort}${redis.pathname}`,
        SCHEDULER_GRPC_URL: `grpc://${HOST_SERVICES_IP}:${o.schedulerGrpcPort}`,
        NODE_DATA_DIR: `${GUEST_DATA_ROOT}/${o.id}`,
        AGENT_HOST: GUEST_IP,
        AGENT_PORT: String(base),
        EXPOSE_HOST: GUEST_IP,
        EXPOSE_PORT_RANGE: `${exposeRange.from}-${exposeRange.to}`,
        ADVERTISE_HOST: HOST_IP,
        VM_NODE_MODULES: POD_NETWORK_MODULES.join(' '),
      };
      const guestForwards: GuestForward[] = [
        { guestIp: HOST_SERVICES_IP, guestPort: o.redisPort },
        { guestIp: HOST_SERVICES_IP, guestPort: o.schedulerGrpcPort },
        // pinned references name the registry 127.0.0.1:<port>: the same name answers in the guest
        { guestIp: HOST_SERVICES_IP, guestPort: o.registryPort, loopback: true },
      ];
      const hostForwards: HostForward[] = Array.from({ length: o.exposePorts + 1 }, (_, i) => ({
        hostPort: base + i,
        guestPort: base + i,
      }));
      const vm = await VmNode.start({
        assetsDir: defaultAssetsDir(),
        workDir: join(o.workDir, `boot-${attempt}`),
        hostname: o.id,
        memoryMiB: o.memoryMiB,
        cpus: o.cpus,
        guestForwards,
        hostForwards,
        preloadModules: [...CRIU_MODULES, ...POD_NETWORK_MODULES],
        command: ['sh', GUEST_WORKER_AGENT_SCRIPT, bundle.path],
        env,
        bootTimeoutMs: o.bootTimeoutMs,
      });
      const timings = { bundleMs, assetsMs, bootMs: vm.bootMs, guestUptimeAtReady: vm.guestUptimeAtReady, bootAttempts: attempt };
      const guest = {
        dataDir: `${GUEST_DATA_ROOT}/${o.id}`,
        bridge: env['NODE_BRIDGE'] ?? '',
        cgroupParent: env['NODE_CGROUP_PARENT'] ?? '',
      };
      return new VmWorkerNode(o.id, vm, guest, base, exposeRange, timings);
    };
    try {
      return await boot(1);
    } catch (error) {
      // An emulated boot on a loaded machine can stall, and a forwarded port can be taken
      // between choosing and binding it: one fresh boot more (VmNode.start stopped the first).
      console.warn(`VM node ${o.id}: first boot failed, booting once more: ${(error as Error).message.split('\n')[0]}`);
      return boot(2);
    }
  }

  get agentUrl(): string {
    return `http://${HOST_IP}:${this.agentPort}`;
  }

  /** Why the agent is not running, when it is not (for a start-up wait that must not outlive it). */
  failure(): string | undefined {
    if (!this.vm.running) return `the VM of ${this.id} exited; console tail:\n${this.vm.logs().slice(-2000)}`;
    const code = this.vm.workloadExitCode;
    if (code !== undefined) return `the agent in VM ${this.id} exited with ${code}:\n${this.agentLogs().slice(-3000)}`;
    return undefined;
  }

  /** The agent's data dir in the guest (image cache, pods, checkpoints). */
  get guestDataDir(): string {
    return this.guest.dataDir;
  }

  /** The agent's output (and the guest preparation before it). */
  agentLogs(): string {
    return this.vm.workloadLogs();
  }

  /** What the guest holds for one pod: container, netns, overlay mount. */
  async podLeftovers(podId: string): Promise<string[]> {
    const dir = this.guest.dataDir;
    const script = [
      `runc --root ${dir}/runc list -q 2>/dev/null | grep -qx '${podId}' && echo container`,
      `${IP} netns list | grep -q '${podId}' && echo netns`,
      `grep -q '${podId}' /proc/self/mountinfo && echo mount`,
      'true',
    ].join('\n');
    return lines((await this.vm.execOk('sh', ['-c', script], { timeoutMs: 30_000 })).stdout);
  }

  /** What the guest holds for the node as a whole: containers, netns, bridge, cgroup parent, mounts under the data dir. */
  async nodeLeftovers(): Promise<string[]> {
    const dir = this.guest.dataDir;
    const script = [
      `[ -z "$(runc --root ${dir}/runc list -q 2>/dev/null)" ] || echo containers`,
      `${IP} netns list | grep -q 'wp\\.${this.guest.bridge}\\.' && echo netns`,
      `${IP} link show ${this.guest.bridge} >/dev/null 2>&1 && echo bridge`,
      `[ -d /sys/fs/cgroup/${this.guest.cgroupParent} ] && echo cgroup`,
      `grep -q ' ${dir}/' /proc/self/mountinfo && echo mount`,
      'true',
    ].join('\n');
    return lines((await this.vm.execOk('sh', ['-c', script], { timeoutMs: 30_000 })).stdout);
  }

  /**
   * SIGTERM to the agent (it stops its pods and removes its bridge and cgroup parent), up to
   * graceMs for it to exit, a look at what the guest still holds, then the VM powers off.
   */
  stop(graceMs = 60_000): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    try {
      if (this.vm.running && this.vm.workloadExitCode === undefined) {
        await this.vm.signalWorkload('TERM');
        await this.vm.waitForWorkloadExit(graceMs).catch(async (error: unknown) => {
          console.warn(`VM node ${this.id}: ${(error as Error).message}; killing the agent`);
          await this.vm.signalWorkload('KILL').catch(() => undefined);
        });
      }
      if (this.vm.running) this.leftoversAtStop = await this.nodeLeftovers();
    } catch (error) {
      console.warn(`VM node ${this.id}: clean agent stop failed: ${(error as Error).message}`);
    } finally {
      await this.vm.stop();
    }
  }
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
