import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { PodSpec, Resources } from '@warmpod/domain';
import type { ImageConfig } from '@warmpod/registry';
import { CRIU_CONFIG_ANNOTATION } from './checkpoint/criu-network-lock';
import { NodeRuntimeError } from './errors';

/**
 * The fields of umoci's generated config.json that the pod spec rewrites.
 * Everything else (mounts, capabilities, masked paths, rlimits) passes
 * through untouched.
 */
export const baseRuntimeConfigSchema = z.looseObject({
  ociVersion: z.string(),
  process: z.looseObject({
    terminal: z.boolean().optional(),
    user: z.looseObject({ uid: z.number().int(), gid: z.number().int() }),
    args: z.array(z.string()).optional(),
    env: z.array(z.string()).optional(),
    cwd: z.string(),
    oomScoreAdj: z.number().int().optional(),
  }),
  root: z.looseObject({ path: z.string(), readonly: z.boolean().optional() }),
  hostname: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  linux: z.looseObject({
    namespaces: z.array(z.looseObject({ type: z.string(), path: z.string().optional() })),
    resources: z.looseObject({}).optional(),
    cgroupsPath: z.string().optional(),
  }),
});
export type BaseRuntimeConfig = z.infer<typeof baseRuntimeConfigSchema>;

/** The OCI runtime spec a pod runs with, as written to its bundle's config.json. */
export type RuntimeSpec = BaseRuntimeConfig & {
  process: BaseRuntimeConfig['process'] & { terminal: false; args: string[]; env: string[]; cwd: string };
  root: { path: string; readonly: false };
  hostname: string;
  linux: BaseRuntimeConfig['linux'] & {
    cgroupsPath: string;
    resources: Record<string, unknown> & { memory: { limit: number }; cpu: { quota: number; period: number } };
  };
};

export interface RuntimeSpecInput {
  /** config.json of the unpacked image bundle (unvalidated JSON). */
  baseConfig: unknown;
  imageConfig: ImageConfig;
  /** The pod's process, Kubernetes style: empty lists mean "use the image's". */
  command: PodSpec['command'];
  args: PodSpec['args'];
  env: PodSpec['env'];
  /** The pod's merged overlay root. */
  rootfsPath: string;
  netnsPath: string;
  cgroupsPath: string;
  resources: Pick<Resources, 'cpu' | 'memoryMiB'>;
  hostname: string;
  /**
   * The node's CRIU configuration for runc (writeCriuRuncConfig), where the
   * node checkpoints: runc reads it from the spec's annotations when it
   * checkpoints or restores the container, so it is set when the pod is made.
   */
  criuConfigPath?: string;
  /** Only used to say which pod an error is about. */
  podId?: string;
}

export const CPU_PERIOD_US = 100_000;
// The kernel refuses quotas below 1 ms.
const MIN_CPU_QUOTA_US = 1000;
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Kubernetes semantics: `command` replaces the image Entrypoint and, when
 * given, also drops the image Cmd; `args` replace the image Cmd.
 */
export function resolveArgv(image: ImageConfig, pod: Pick<PodSpec, 'command' | 'args'>): string[] {
  const entrypoint = pod.command.length > 0 ? pod.command : (image.config?.Entrypoint ?? []);
  const cmd = pod.command.length > 0 || pod.args.length > 0 ? pod.args : (image.config?.Cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** Image env first, in its order; pod env overrides by name; PATH always set. */
export function mergeEnv(imageEnv: readonly string[], podEnv: Readonly<Record<string, string>>): string[] {
  const merged = new Map<string, string>();
  for (const entry of imageEnv) {
    const eq = entry.indexOf('=');
    if (eq > 0) merged.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const [name, value] of Object.entries(podEnv)) merged.set(name, value);
  const env = [...merged].map(([name, value]) => `${name}=${value}`);
  return merged.has('PATH') ? env : [DEFAULT_PATH, ...env];
}

/** Builds the pod's runtime spec from the image bundle's base config. Pure. */
export function buildRuntimeSpec(input: RuntimeSpecInput): RuntimeSpec {
  const fail = (detail: string): never => {
    throw new NodeRuntimeError('build runtime spec', detail, input.podId);
  };
  const parsed = baseRuntimeConfigSchema.safeParse(input.baseConfig);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`base config.json is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const base = structuredClone(parsed.data!);
  if (!isAbsolute(input.rootfsPath)) fail(`rootfs path "${input.rootfsPath}" is not absolute`);
  if (!isAbsolute(input.netnsPath)) fail(`netns path "${input.netnsPath}" is not absolute`);
  if (!input.cgroupsPath.startsWith('/')) fail(`cgroups path "${input.cgroupsPath}" must start with "/"`);
  if (input.criuConfigPath !== undefined && !isAbsolute(input.criuConfigPath))
    fail(`CRIU config path "${input.criuConfigPath}" is not absolute`);
  if (!(input.resources.cpu > 0) || !(input.resources.memoryMiB > 0)) fail('cpu and memoryMiB must be positive');

  const args = resolveArgv(input.imageConfig, input);
  if (args.length === 0 || args[0] === '') {
    fail('the pod has no command: the image defines no Entrypoint or Cmd and the pod gives no command or args');
  }

  // Inherit the agent's OOM score: lowering it needs CAP_SYS_RESOURCE.
  const { oomScoreAdj, ...process } = base.process;
  const keepOom = oomScoreAdj !== undefined && oomScoreAdj >= 0 ? { oomScoreAdj } : {};

  const namespaces = base.linux.namespaces.filter((ns) => ns.type !== 'network');
  namespaces.push({ type: 'network', path: input.netnsPath });
  const resources = base.linux.resources ?? {};

  return {
    ...base,
    process: {
      ...process,
      ...keepOom,
      terminal: false,
      args,
      env: mergeEnv(input.imageConfig.config?.Env ?? [], input.env),
      cwd: input.imageConfig.config?.WorkingDir || base.process.cwd || '/',
    },
    root: { ...base.root, path: input.rootfsPath, readonly: false },
    hostname: input.hostname,
    ...(input.criuConfigPath === undefined ? {} : { annotations: { ...base.annotations, [CRIU_CONFIG_ANNOTATION]: input.criuConfigPath } }),
    linux: {
      ...base.linux,
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: {
        ...resources,
        memory: { ...(resources['memory'] as object | undefined), limit: Math.round(input.resources.memoryMiB * 1024 * 1024) },
        cpu: {
          ...(resources['cpu'] as object | undefined),
          quota: Math.max(MIN_CPU_QUOTA_US, Math.round(input.resources.cpu * CPU_PERIOD_US)),
          period: CPU_PERIOD_US,
        },
      },
    },
  };
}
