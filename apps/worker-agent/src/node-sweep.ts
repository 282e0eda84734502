import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ImageCache,
  PodNetwork,
  PodRootfs,
  PortExposer,
  RuncRuntime,
  type BlobSource,
  type RuncRuntimeOptions,
} from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { AgentConfig } from './config';
import type { NodeRuntime, PodSandboxes } from './pod-sandbox';

/** runc root and shim files of this node, the same for the runtime and the checkpointer. */
export function runcOptions(c: AgentConfig, logger: Logger): RuncRuntimeOptions {
  return { runcRoot: join(c.dataDir, 'runc'), stateDir: join(c.dataDir, 'shim'), cgroupParent: c.cgroupParent, logger };
}

/** The node's runtime adapters from its config; `blobSource`: where pulls take blobs (default: the registry). */
export function createNodeRuntime(c: AgentConfig, registry: RegistryClient, logger: Logger, blobSource?: BlobSource): NodeRuntime {
  return {
    cache: new ImageCache({
      dataDir: join(c.dataDir, 'images'),
      registry,
      logger,
      fetchConcurrency: c.fetchConcurrency,
      ...(blobSource ? { blobSource } : {}),
    }),
    rootfs: new PodRootfs({ logger }),
    network: new PodNetwork({ nodeId: c.nodeId, bridge: c.bridge, subnet: c.subnet, dataDir: join(c.dataDir, 'cni'), logger }),
    runc: new RuncRuntime(runcOptions(c, logger)),
    ports: new PortExposer({ logger, portRange: c.exposePortRange, advertiseHost: c.advertiseHost }),
  };
}

/**
 * Removes everything of this node, whoever owned it: every container (shim
 * included), port, network namespace, overlay and pod cgroup, then the
 * bridge and the cgroup parent. For a local node going away (its agent's
 * shutdown, a start-up cancelled, or the launcher sweeping after an agent
 * that died); pod records are not touched. Returns what could not be removed.
 */
export async function sweepNode(rt: NodeRuntime, sandboxes: Pick<PodSandboxes, 'teardown' | 'listOnNode'>): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown>): Promise<void> => {
    await step().catch((error: unknown) => failures.push(`${what}: ${messageOf(error)}`));
  };
  const ids = new Set<string>();
  await attempt('list containers', async () => (await rt.runc.list()).forEach((c) => ids.add(c.id)));
  await attempt('list shims', async () => (await rt.runc.listShims()).forEach((s) => ids.add(s.podId)));
  await attempt('list pods', async () => (await sandboxes.listOnNode()).forEach((p) => ids.add(p.podId)));
  await attempt('list cgroups', async () => (await rt.runc.listPodCgroups()).forEach((id) => ids.add(id)));
  for (const id of ids) {
    await attempt(id, () => sandboxes.teardown(id));
    await attempt(`${id} cgroup`, () => rt.runc.removePodCgroup(id));
  }
  await rt.ports.closeAll();
  await attempt('bridge', () => rt.network.destroy());
  await attempt('cgroup parent', () => rt.runc.removeCgroupParent());
  return failures;
}

/**
 * What this node still holds, checked rather than assumed: containers, shim
 * and runc processes, mounts under its data dir, network namespaces, its
 * bridge and the veths on it, pod cgroups and the cgroup parent.
 */
export async function nodeLeftovers(c: AgentConfig, rt: NodeRuntime): Promise<string[]> {
  const found: string[] = [];
  const containers = await rt.runc.list().catch(() => []);
  if (containers.length > 0) found.push(`containers: ${containers.map((x) => x.id).join(', ')}`);
  const processes = await processesMentioning(resolve(c.dataDir));
  if (processes.length > 0) found.push(`shim/runc processes: ${processes.join(', ')}`);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(`${resolve(c.dataDir)}/`));
  if (mounts.length > 0) found.push(`mounts: ${mounts.map((l) => l.split(' ')[4]).join(', ')}`);
  const netns = await rt.network.listAttached();
  if (netns.length > 0) found.push(`network namespaces: ${netns.map((n) => n.netnsPath).join(', ')}`);
  const veths = await readdir(`/sys/class/net/${c.bridge}/brif`).catch(() => undefined);
  if (veths !== undefined) found.push(`bridge ${c.bridge}${veths.length > 0 ? ` with veths ${veths.join(', ')}` : ''}`);
  const cgroups = await rt.runc.listPodCgroups();
  if (cgroups.length > 0) found.push(`pod cgroups: ${cgroups.join(', ')}`);
  if (await rt.runc.hasCgroupParent()) found.push(`cgroup parent ${c.cgroupParent}`);
  return found;
}

/** Pids of processes whose command line names `path` or a file under it (the node's shims and runc name its runc root). */
async function processesMentioning(path: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg === path || arg.startsWith(`${path}/`))) pids.push(Number(entry));
  }
  return pids;
}
