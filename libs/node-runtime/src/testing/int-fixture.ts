/**
 * Shared set-up for the integration specs (real registry, umoci, runc, CNI).
 * Not exported from the package: test code only.
 * The lint rules let test files, and nothing else, use dev tools such as devkit.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildImage, HTTP_SAMPLE_BODY, LocalRegistry, sampleImages, SAMPLE_REPOSITORIES, type SampleImageDigests } from '@warmpod/devkit';
import { createLogger, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';

/** `test(..., { skip })` value: these tests mount, create netns and run runc. */
export { buildImage, HTTP_SAMPLE_BODY, LocalRegistry, sampleImages, SAMPLE_REPOSITORIES, type SampleImageDigests };

export const needsRoot: string | false = process.getuid?.() === 0 ? false : 'integration tests need root';

/**
 * The criu the local nodes use: the bootstrap's private CRIU >= 4.2
 * (scripts/criu-prefix.sh) when it is installed, else `criu` on PATH.
 */
export const projectCriuPath: string = (() => {
  // dist/testing -> the repository root.
  const prefixed = resolve(__dirname, '..', '..', '..', '..', '.warmpod', 'criu', 'criu');
  return existsSync(prefixed) ? prefixed : 'criu';
})();

export function randomHex(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

/** Names unique to one test run, so parallel and repeated runs never collide. */
export function uniqueTestNames(): { suffix: string; nodeId: string; bridge: string; subnet: string; cgroupParent: string } {
  const suffix = randomHex(3);
  return {
    suffix,
    nodeId: `t${suffix}`,
    bridge: `wpt${suffix}`,
    subnet: `10.89.${randomInt(100, 251)}.0/24`,
    cgroupParent: `warmpod-test-${suffix}`,
  };
}

export function testLogger(): Logger {
  return createLogger({ service: 'node-runtime-int-test', level: 'error' });
}

export function registryClient(): RegistryClient {
  return new RegistryClient({ insecureRegistries: [], timeoutMs: 10_000 });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

export async function startRegistry(dir: string): Promise<LocalRegistry> {
  return LocalRegistry.start({ storageDir: join(dir, 'registry') });
}

/**
 * Undo steps registered as resources are created and run newest first, all
 * of them even when some fail, so a failing test still leaves nothing behind.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> }> = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`cleanup failed: ${failures.join('; ')}`);
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export function elapsedMs(since: bigint): number {
  return Number((process.hrtime.bigint() - since) / 1000n) / 1000;
}

/** A scratch directory (`prefix-…` under the temp dir) with a real registry in it; `cleanup` stops and removes both. */
export async function startScratchRegistry(prefix: string, cleanup: Cleanup): Promise<{ dir: string; registry: LocalRegistry }> {
  const dir = await tempDir(prefix);
  cleanup.add('temp dir', () => removeDir(dir));
  const registry = await startRegistry(dir);
  cleanup.add('registry', () => registry.stop());
  return { dir, registry };
}
