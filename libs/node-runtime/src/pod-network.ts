import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isValidNodeId, NODE_ID_RULE } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from './command';
import { NodeRuntimeError, quietLogger } from './errors';
import { exists, writeFileAtomic } from './files';
import { isIpv4Cidr } from './ipv4';
import { SYSTEM_TOOL_PATH } from './system-path';

export interface PodNetworkOptions {
  /** Part of every netns name, so several local nodes on one host never collide. */
  nodeId: string;
  /** Linux bridge name (at most 15 characters). */
  bridge: string;
  /** IPv4 subnet pods get addresses from, e.g. 10.89.7.0/24. */
  subnet: string;
  /** Holds the CNI config and host-local IPAM state. */
  dataDir: string;
  cniPath?: string;
  logger?: Logger;
}

export interface PodAttachment {
  podId: string;
  netnsPath: string;
  ip: string;
}

export interface AttachedPod {
  podId: string;
  netnsPath: string;
  /** From IPAM state; absent when the namespace exists but holds no address. */
  ip?: string;
}

/** Where `ip netns` keeps named namespaces (iproute2's convention). */
const NETNS_DIR = '/var/run/netns';
const DEFAULT_CNI_PATH = '/usr/lib/cni';
/**
 * The plugin gets the CNI variables and a system PATH (it looks up iptables
 * there), not the agent's environment: configuration is read once, by the
 * agent's config, and nothing else of the agent's should reach a plugin.
 */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const cniAddResultSchema = z.object({ ips: z.array(z.object({ address: z.string() })).min(1) });
const cniErrorSchema = z.object({ msg: z.string().optional(), details: z.string().optional() });

/**
 * Pod networking for one node: a named network namespace per pod, joined to
 * the node's bridge by the CNI bridge plugin with host-local IPAM.
 */
export class PodNetwork {
  readonly networkName: string;
  readonly cniPath: string;
  readonly confPath: string;
  private readonly ipamDir: string;
  private readonly conf: string;
  private readonly logger: Logger;
  private confWritten?: Promise<void>;

  constructor(private readonly opts: PodNetworkOptions) {
    this.logger = opts.logger ?? quietLogger();
    // The domain's node id has no dot; bridge names have none either, as they separate parts of netns names.
    if (!isValidNodeId(opts.nodeId))
      throw new NodeRuntimeError('configure pod network', `node id "${opts.nodeId}" must be ${NODE_ID_RULE}`);
    if (!SAFE_NAME.test(opts.bridge) || opts.bridge.includes('.') || opts.bridge.length > 15) {
      throw new NodeRuntimeError(
        'configure pod network',
        `bridge "${opts.bridge}" must be a safe name without dots of at most 15 characters`,
      );
    }
    if (!isIpv4Cidr(opts.subnet)) throw new NodeRuntimeError('configure pod network', `subnet "${opts.subnet}" is not an IPv4 CIDR`);
    this.networkName = `warmpod-${opts.nodeId}`;
    this.cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
    this.confPath = join(opts.dataDir, `${this.networkName}.conf`);
    this.ipamDir = join(opts.dataDir, 'ipam');
    this.conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: this.networkName,
      type: 'bridge',
      bridge: opts.bridge,
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: opts.subnet }]], dataDir: this.ipamDir },
    });
  }

  /**
   * Stable, so the namespace of a pod started before an agent restart is found
   * again. Named by the node's bridge, which is unique on a host (node ids are
   * not: two local clusters both have a node-1), so a node never lists or
   * sweeps another node's namespaces.
   */
  netnsName(podId: string): string {
    return `wp.${this.opts.bridge}.${podId}`;
  }

  netnsPath(podId: string): string {
    return join(NETNS_DIR, this.netnsName(podId));
  }

  /** Creates the pod's netns and gives it an address; on failure nothing is left behind. */
  async attach(podId: string): Promise<PodAttachment> {
    this.checkPodId(podId, 'attach pod network');
    const name = this.netnsName(podId);
    const netnsPath = this.netnsPath(podId);
    await this.writeConf();
    if (await exists(netnsPath)) {
      throw new NodeRuntimeError('attach pod network', `network namespace ${name} already exists (detach it first)`, podId);
    }
    let created = false;
    try {
      await runCommand('ip', ['netns', 'add', name]);
      created = true;
      // Pods expect a working localhost; CNI's bridge plugin only sets up eth0.
      await runCommand('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const result = cniAddResultSchema.parse(JSON.parse(await this.cni('ADD', podId, netnsPath)));
      const ip = result.ips[0]!.address.split('/')[0]!;
      this.logger.debug({ podId, ip, netns: name }, 'pod network attached');
      return { podId, netnsPath, ip };
    } catch (error) {
      if (created) {
        await this.cni('DEL', podId, netnsPath).catch(() => undefined);
        await runCommand('ip', ['netns', 'delete', name]).catch(() => undefined);
      }
      throw new NodeRuntimeError('attach pod network', messageOf(error), podId, { cause: error });
    }
  }

  /** Releases the pod's address and deletes its netns; detaching twice is fine. */
  async detach(podId: string): Promise<void> {
    this.checkPodId(podId, 'detach pod network');
    const name = this.netnsName(podId);
    const netnsPath = this.netnsPath(podId);
    const hasNetns = await exists(netnsPath);
    try {
      await this.writeConf();
      // Without a netns, DEL still releases the IPAM address (CNI spec: DEL tolerates missing pieces).
      await this.cni('DEL', podId, hasNetns ? netnsPath : '');
      if (hasNetns) {
        await runCommand('ip', ['netns', 'delete', name]).catch(async (error: unknown) => {
          if (await exists(netnsPath)) throw error;
        });
      }
    } catch (error) {
      throw new NodeRuntimeError('detach pod network', messageOf(error), podId, { cause: error });
    }
    this.logger.debug({ podId, netns: name }, 'pod network detached');
  }

  /** Pods of this node that have a netns, with their address when IPAM has one. */
  async listAttached(): Promise<AttachedPod[]> {
    const prefix = this.netnsName('');
    const names = (await readdir(NETNS_DIR).catch(() => [])).filter((n) => n.startsWith(prefix) && SAFE_NAME.test(n.slice(prefix.length)));
    const ips = await this.addressesByContainer();
    return names.map((n) => {
      const podId = n.slice(prefix.length);
      const ip = ips.get(podId);
      return { podId, netnsPath: join(NETNS_DIR, n), ...(ip ? { ip } : {}) };
    });
  }

  /** Tears the node's network down: pods detached, bridge deleted, IPAM state removed. */
  async destroy(): Promise<void> {
    const failures: string[] = [];
    for (const pod of await this.listAttached()) {
      await this.detach(pod.podId).catch((error: unknown) => failures.push(messageOf(error)));
    }
    try {
      await runCommand('ip', ['link', 'delete', this.opts.bridge]);
    } catch (error) {
      const gone = error instanceof CommandError && /cannot find device|does not exist/i.test(error.stderr);
      if (!gone) failures.push(`deleting bridge ${this.opts.bridge}: ${messageOf(error)}`);
    }
    await rm(this.ipamDir, { recursive: true, force: true });
    await rm(this.confPath, { force: true });
    this.confWritten = undefined;
    if (failures.length > 0) throw new NodeRuntimeError('destroy pod network', failures.join('; '));
    this.logger.info({ bridge: this.opts.bridge }, 'node pod network destroyed');
  }

  private checkPodId(podId: string, operation: string): void {
    if (!SAFE_NAME.test(podId)) throw new NodeRuntimeError(operation, `pod id "${podId}" is not a safe name`, podId);
  }

  private writeConf(): Promise<void> {
    this.confWritten ??= (async () => {
      await mkdir(this.opts.dataDir, { recursive: true });
      await writeFileAtomic(this.confPath, this.conf);
    })().catch((error: unknown) => {
      this.confWritten = undefined;
      throw error;
    });
    return this.confWritten;
  }

  /** Runs the bridge plugin as the CNI spec says: env for the call, config on stdin. */
  private async cni(command: 'ADD' | 'DEL', podId: string, netnsPath: string): Promise<string> {
    try {
      const { stdout } = await runCommand(join(this.cniPath, 'bridge'), [], {
        input: this.conf,
        env: {
          PATH: SYSTEM_TOOL_PATH,
          CNI_COMMAND: command,
          CNI_CONTAINERID: podId,
          CNI_NETNS: netnsPath,
          CNI_IFNAME: 'eth0',
          CNI_PATH: this.cniPath,
        },
      });
      return stdout;
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      let reason = error.stderr.trim();
      try {
        const parsed = cniErrorSchema.parse(JSON.parse(error.stdout));
        reason = [parsed.msg, parsed.details].filter(Boolean).join(': ') || reason;
      } catch {
        // Not a CNI error object: keep stderr.
      }
      throw new Error(`CNI bridge ${command} failed: ${reason}`);
    }
  }

  /** host-local IPAM keeps one file per address, named by the address, holding the container id. */
  private async addressesByContainer(): Promise<Map<string, string>> {
    const dir = join(this.ipamDir, this.networkName);
    const byContainer = new Map<string, string>();
    for (const file of await readdir(dir).catch(() => [])) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(file)) continue;
      const owner = (await readFile(join(dir, file), 'utf8').catch(() => '')).split(/\r?\n/)[0]?.trim();
      if (owner) byContainer.set(owner, file);
    }
    return byContainer;
  }
}
