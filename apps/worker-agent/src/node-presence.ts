import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { promisify } from 'node:util';
import {
  NodeRegistryClient,
  type CapabilitiesMessage,
  type CheckpointMessage,
  type InventoryPart,
  type InventoryParts,
  type RegisterRequest,
} from '@warmpod/node-registry';
import { CriuCapability, type RuncRuntime } from '@warmpod/node-runtime';
import type { ClusterTls, Logger } from '@warmpod/observability';

const run = promisify(execFile);

export interface CriuSettings {
  path: string;
  probeTimeoutMs: number;
  cacheFile: string;
  /** The probe's temporary directories go here. */
  workDir: string;
}

/**
 * What this node can do, measured rather than configured: `criu check` and a
 * real dump and restore of a probe process decide criuOk, the CRIU mode and
 * its network lock (and say why not).
 */
export async function detectCapabilities(criuSettings: CriuSettings, logger: Logger): Promise<CapabilitiesMessage> {
  const [{ stdout }, criu] = await Promise.all([
    run('runc', ['--version']),
    CriuCapability.detect({
      criuPath: criuSettings.path,
      probeTimeoutMs: criuSettings.probeTimeoutMs,
      cacheFile: criuSettings.cacheFile,
      workDir: criuSettings.workDir,
      logger,
    }),
  ]);
  const runcVersion = /runc version (\S+)/.exec(stdout)?.[1] ?? 'unknown';
  return {
    runtime: 'runc',
    runcVersion,
    criuVersion: criu.version ?? '',
    criuOk: criu.ok,
    criuReason: criu.reason ?? '',
    criuMode: criu.ok && criu.mode ? criu.mode : '',
    criuNetworkLock: criu.ok && criu.networkLock ? criu.networkLock : '',
    kernel: criu.kernel,
    arch: arch(),
    cpuFlags: await cpuFlags(),
  };
}

async function cpuFlags(): Promise<string[]> {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const line = /^(flags|Features)\s*:\s*(.*)$/m.exec(info)?.[2] ?? '';
  return [...new Set(line.split(/\s+/).filter((f) => /^[A-Za-z0-9_.-]{1,64}$/.test(f)))].sort();
}

/** A layer as the image cache lists it: a digest, or a digest with its size. */
type ListedLayer = string | { digest: string; sizeBytes: number };

export interface NodePresenceOptions {
  target: string;
  /** This node's certificate (it must name the node) and the cluster CA. */
  tls: ClusterTls;
  registration: RegisterRequest;
  cache: { list(): Promise<Array<{ digest: string; sizeBytes: number; layers: ListedLayer[] }>> };
  runc: Pick<RuncRuntime, 'list'>;
  /** Restorable checkpoints compatible with this node's runtime, under their spec keys. */
  checkpoints: () => Promise<CheckpointMessage[]>;
  /** Stops and cleans containers the scheduler does not expect on this node. */
  discard: (podIds: string[], reason: string) => Promise<void>;
  logger: Logger;
}

/** The node's presence in the scheduler's registry: registration, inventory, change reports, heartbeats. */
export function nodePresence(opts: NodePresenceOptions): NodeRegistryClient {
  // Only the parts asked for: after an image pull, `runc list` (a process spawn) has nothing new to say.
  const inventory = async (parts: ReadonlySet<InventoryPart>): Promise<InventoryParts> => {
    const [images, containers, checkpoints] = await Promise.all([
      parts.has('images') ? opts.cache.list() : undefined,
      parts.has('runningPods') ? opts.runc.list() : undefined,
      parts.has('checkpoints') ? opts.checkpoints() : undefined,
    ]);
    return {
      ...(images && { images: images.map((i) => ({ digest: i.digest, sizeBytes: i.sizeBytes, layers: i.layers.map(layerOf) })) }),
      ...(containers && { runningPods: containers.map((c) => c.id) }),
      ...(checkpoints && { checkpoints }),
      // The agent does not measure usage yet; reservations are accounted by the scheduler.
      usage: { cpu: 0, memoryMiB: 0, gpu: 0 },
    };
  };
  return new NodeRegistryClient({
    target: opts.target,
    registration: opts.registration,
    inventory,
    onStopPods: opts.discard,
    logger: opts.logger,
    tls: opts.tls,
  });
}

function layerOf(layer: ListedLayer): { digest: string; sizeBytes: number } {
  return typeof layer === 'string' ? { digest: layer, sizeBytes: 0 } : { digest: layer.digest, sizeBytes: layer.sizeBytes };
}
