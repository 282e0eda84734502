import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, Traces, type TestGateway } from './harness';
import { startRegistry, type TestRegistry } from './registry';

/** What `RegistryGateway.start` sets up. */
export interface RegistryGatewayParts {
  registry: TestRegistry;
  gateway: TestGateway;
  traces: Traces;
}

/**
 * The set-up most gateway integration specs share: a real registry in a
 * scratch directory, one gateway on the spec's prefix that pins against it,
 * and the spec's Redis traces. `stop` undoes whatever `start` got to.
 */
export class RegistryGateway {
  private dir?: string;
  private parts: Partial<RegistryGatewayParts> = {};

  /** `name` names the scratch directory; `env` is added to the gateway's (WARMPOD_PREFIX and WARMPOD_DEFAULT_REGISTRY are set). */
  async start(name: string, prefix: string, env: Record<string, string> = {}): Promise<RegistryGatewayParts> {
    this.dir = await mkdtemp(join(tmpdir(), `gateway-${name}-`));
    const registry = (this.parts.registry = await startRegistry(this.dir));
    const gateway = (this.parts.gateway = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: registry.host, ...env }));
    const traces = (this.parts.traces = new Traces(prefix));
    return { registry, gateway, traces };
  }

  async stop(): Promise<void> {
    await this.parts.gateway?.close();
    await this.parts.traces?.cleanUp();
    await this.parts.registry?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
