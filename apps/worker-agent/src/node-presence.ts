import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import { promisify } from 'node:util';
import { NodeRegistryClient, type AgentInventory, type CapabilitiesMessage, type RegisterRequest } from '@warmpod/node-registry';
import type { RuncRuntime } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes } from './pod-sandbox';

const run = promisify(execFile);

/** What this node can do, measured rather than configured. */
export async function detectCapabilities(): Promise<CapabilitiesMessage> {
  const { stdout } = await run('runc', ['--version']);
  const runcVersion = /runc version (\S+)/.exec(stdout)?.[1] ?? 'unknown';
  return { runtime: 'runc', runcVersion, ...(await detectCriu()), kernel: release(), arch: arch(), cpuFlags: await cpuFlags() };
}

async function detectCriu(): Promise<Pick<CapabilitiesMessage, 'criuVersion' | 'criuOk' | 'criuReason'>> {
  let criuVersion: string;
  try {
    const { stdout } = await run('criu', ['--version'], { timeout: 5_000 });
    criuVersion = /Version:\s*(\S+)/.exec(stdout)?.[1] ?? 'unknown';
  } catch {
    return { criuVersion: '', criuOk: false, criuReason: 'criu is not installed' };
  }
  try {
    await run('criu', ['check'], { timeout: 30_000 });
    return { criuVersion, criuOk: true, criuReason: '' };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const reason = (e.stderr || e.message).trim().split('\n').slice(-3).join('; ').slice(0, 1000);
    return { criuVersion, criuOk: false, criuReason: `criu check failed: ${reason}` };
  }
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
  registration: RegisterRequest;
  cache: { list(): Promise<Array<{ digest: string; sizeBytes: number; layers: ListedLayer[] }>> };
  runc: Pick<RuncRuntime, 'list'>;
  /** Stops and cleans containers the scheduler does not expect on this node. */
  discard: (podIds: string[], reason: string) => Promise<void>;
  logger: Logger;
}

/** The node's presence in the scheduler's registry: registration, inventory, change reports, heartbeats. */
export function nodePresence(opts: NodePresenceOptions): NodeRegistryClient {
  const inventory = async (): Promise<AgentInventory> => {
    const [images, containers] = await Promise.all([opts.cache.list(), opts.runc.list()]);
    return {
      images: images.map((i) => ({ digest: i.digest, sizeBytes: i.sizeBytes, layers: i.layers.map(layerOf) })),
      runningPods: containers.map((c) => c.id),
      checkpoints: [],
      // The agent does not measure usage yet; reservations are accounted by the scheduler.
      usage: { cpu: 0, memoryMiB: 0, gpu: 0 },
    };
  };
  return new NodeRegistryClient({ target: opts.target, registration: opts.registration, inventory, onStopPods: opts.discard, logger: opts.logger });
}

function layerOf(layer: ListedLayer): { digest: string; sizeBytes: number } {
  return typeof layer === 'string' ? { digest: layer, sizeBytes: 0 } : { digest: layer.digest, sizeBytes: layer.sizeBytes };
}

/**
 * Removes containers the scheduler no longer expects here (their pod ended,
 * was deleted or now runs elsewhere): stop, then tear down. The pod record is
 * not touched, since it is not this node's any more.
 */
export function discardContainers(
  runc: Pick<RuncRuntime, 'stop'>,
  sandboxes: Pick<PodSandboxes, 'teardown'>,
  locks: PodLocks,
  graceMs: number,
  logger: Logger,
): (podIds: string[], reason: string) => Promise<void> {
  return async (podIds, reason) => {
    await Promise.all(
      podIds.map((podId) =>
        locks.with(podId, async () => {
          await runc.stop(podId, graceMs).catch((e: unknown) => logger.warn({ podId, err: (e as Error).message }, 'stop failed'));
          await sandboxes.teardown(podId);
          logger.info({ podId, reason }, 'removed a container the scheduler does not expect here');
        }),
      ),
    );
  };
}
