/** What goes into the four service images: pure data and argument parsing, no I/O. */

export type ServiceName = 'gateway' | 'scheduler' | 'prepuller' | 'worker-agent';

export interface ServiceImage {
  name: ServiceName;
  /** The app folder whose `dist/main.js` is bundled. */
  app: string;
  /** The agent runs runc, mounts and netns as root; the control plane needs no privilege. */
  root: boolean;
  /** Carries runc, CNI, iproute2, mount, util-linux, tar, perl-base, zstd and CRIU. */
  nodeTools: boolean;
  /** Packages read from disk at run time, shipped whole beside the bundle. */
  shippedPackages: string[];
  /** Worker-thread scripts the app starts from beside its own code, bundled as `bin/<name>.js`. */
  workerScripts: string[];
}

export const SERVICES: readonly ServiceImage[] = [
  // swagger-ui-dist serves its own files from its package folder (the /docs page).
  { name: 'gateway', app: 'apps/gateway', root: false, nodeTools: false, shippedPackages: ['swagger-ui-dist'], workerScripts: [] },
  { name: 'scheduler', app: 'apps/scheduler', root: false, nodeTools: false, shippedPackages: [], workerScripts: [] },
  { name: 'prepuller', app: 'apps/prepuller', root: false, nodeTools: false, shippedPackages: [], workerScripts: [] },
  // Large blobs download, and large image layers unpack, on worker threads (libs/registry: downloadInThread;
  // libs/node-runtime: unpackInThread).
  {
    name: 'worker-agent',
    app: 'apps/worker-agent',
    root: true,
    nodeTools: true,
    shippedPackages: [],
    workerScripts: ['libs/registry/dist/blob-download-worker.js', 'libs/node-runtime/dist/layers/unpack-worker.js'],
  },
];

/** The distroless "cc" set: what a dynamically linked Node needs, TLS roots, zones, /etc/services. */
export const BASE_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates', 'tzdata', 'netbase'];
export const BASE_SUITE = 'bookworm';

/**
 * What the agent runs besides itself (libs/node-runtime: runc, CNI bridge + host-local, ip, mount, tar, sh;
 * perl for the device nodes and xattrs of image layers, which Node cannot make; zstd for zstd-compressed
 * layers, which Node 20's zlib cannot decompress).
 */
export const NODE_TOOL_PACKAGES = [
  'dash',
  'coreutils',
  'mount',
  // unshare: CRIU's network-lock probe runs in a netns of its own (the image has no iptables for CRIU's default lock).
  'util-linux',
  'tar',
  'perl-base',
  'runc',
  'iproute2',
  'containernetworking-plugins',
  'zstd',
];

/** CRIU from a newer suite into its own prefix with its own loader (criu-host.md): bookworm's 3.17 fails on kernels >= 6.13. */
export const CRIU = { suite: 'sid', package: 'criu', minVersion: '4.2', prefix: '/opt/criu' } as const;

export const NONROOT = { uid: 65532, name: 'nonroot' } as const;
export const APP_DIR = '/app';
export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Layer tags in the shared layout: each service image is a tag built on these. */
export const LAYER_TAGS = { base: 'layer-base', node: 'layer-node', tools: 'layer-node-tools', criu: 'layer-criu' } as const;

export interface ImagesArgs {
  registry: string;
  /** The registry is plain HTTP (loopback registries are). */
  insecure: boolean;
  /** Build only these (default: all four). */
  only: ServiceName[];
  source?: string;
  push: boolean;
}

export const DEFAULT_REGISTRY = '127.0.0.1:5000';
const HOST_PORT = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._/-]+)?$/;

/** `npm run images -- [--registry HOST[:PORT][/PATH]] [--tls] [--only a,b] [--source URL] [--no-push]`. */
export function parseImagesArgs(argv: readonly string[]): ImagesArgs {
  const args: ImagesArgs = { registry: DEFAULT_REGISTRY, insecure: true, only: SERVICES.map((s) => s.name), push: true };
  let tlsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--registry') {
      const v = value();
      if (!HOST_PORT.test(v)) throw new Error(`--registry "${v}" is not HOST[:PORT][/PATH]`);
      args.registry = v;
    } else if (flag === '--tls') {
      tlsSet = true;
    } else if (flag === '--only') {
      const names = value().split(',');
      const unknown = names.filter((n) => !SERVICES.some((s) => s.name === n));
      if (unknown.length > 0)
        throw new Error(`--only: unknown image ${unknown.join(', ')} (known: ${SERVICES.map((s) => s.name).join(', ')})`);
      args.only = SERVICES.filter((s) => names.includes(s.name)).map((s) => s.name);
    } else if (flag === '--source') {
      args.source = value();
    } else if (flag === '--no-push') {
      args.push = false;
    } else {
      throw new Error(`unknown argument "${flag}" (use --registry, --tls, --only, --source, --no-push)`);
    }
  }
  // Loopback registries speak plain HTTP; any other needs TLS unless the operator says otherwise.
  args.insecure = !tlsSet && /^(127\.|localhost(:|$))/.test(args.registry);
  return args;
}

/** OCI labels of a service image. */
export function labelsFor(
  service: ServiceName,
  version: string,
  revision: string,
  source: string,
  created: string,
): Record<string, string> {
  return {
    'org.opencontainers.image.title': `warmpod-${service}`,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.revision': revision,
    'org.opencontainers.image.source': source,
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.licenses': 'Apache-2.0',
  };
}

/** The repository a service is pushed to: `<registry>/warmpod/<service>`. */
export function repositoryOf(registry: string, service: ServiceName): string {
  return `${registry}/warmpod/${service}`;
}

/** `4.2.1-1` >= `4.2`? Debian versions compared on their numeric upstream part (epoch dropped). */
export function versionAtLeast(debianVersion: string, minimum: string): boolean {
  const upstream = debianVersion.replace(/^\d+:/, '').split(/[-~+]/)[0]!;
  const a = upstream.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const b = minimum.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** Human-readable bytes for the build report. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
