import { execFile } from 'node:child_process';
import { release, arch } from 'node:os';
import { promisify } from 'node:util';
import type { Logger } from '@warmpod/observability';
import type { NodeRegistration, NodeRepository } from '@warmpod/store';
import type { ImageCache } from '@warmpod/node-runtime';

const run = promisify(execFile);

/** What this node can do, measured rather than configured. */
export async function detectCapabilities(): Promise<Record<string, string | boolean>> {
  const { stdout } = await run('runc', ['--version']);
  const runcVersion = /runc version (\S+)/.exec(stdout)?.[1] ?? 'unknown';
  return { runtime: 'runc', runcVersion, arch: arch(), kernel: release() };
}

/** Registers the node and heartbeats its cache inventory until stopped. */
export class NodePresence {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly nodes: NodeRepository,
    private readonly cache: ImageCache,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  async start(registration: NodeRegistration): Promise<void> {
    await this.nodes.register(registration);
    await this.beat(registration);
    this.timer = setInterval(() => void this.beat(registration), this.intervalMs);
    this.timer.unref();
  }

  private async beat(registration: NodeRegistration): Promise<void> {
    try {
      const known = await this.nodes.heartbeat(registration.id, await this.cache.list());
      if (!known) {
        // Removed from the registry (e.g. Redis was wiped): register again.
        this.logger.warn('node was not registered; registering again');
        await this.nodes.register(registration);
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
    }
  }

  async stop(nodeId: string, deregister: boolean): Promise<void> {
    clearInterval(this.timer);
    if (deregister) await this.nodes.deregister(nodeId);
  }
}
