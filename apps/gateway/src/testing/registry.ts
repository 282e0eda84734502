/**
 * The real registry the integration specs pin against: devkit's LocalRegistry
 * (docker-registry on a free loopback port) and its umoci/skopeo image builder.
 * Test support only: the lint rules let test files, and nothing else, use dev tools.
 */
import { buildImage, LocalRegistry } from '@warmpod/devkit';

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  /** Builds and pushes `name:tag`; `variant` makes the content (and digest) distinct. */
  push(name: string, tag: string, variant?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startRegistry(dir: string): Promise<TestRegistry> {
  const registry = await LocalRegistry.start({ storageDir: `${dir}/registry` });
  return {
    host: registry.host,
    push: (name, tag, variant = 'a') =>
      buildImage({
        registryHost: registry.host,
        name,
        tag,
        workDir: `${dir}/build`,
        cmd: ['sh', '-c', `echo ${variant}`],
        files: { '/etc/variant': variant },
      }),
    stop: () => registry.stop(),
  };
}
