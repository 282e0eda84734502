import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { REPO_ROOT, type K8sObject } from './helm';
import { envVarSchema } from './k8s-fields';

/** The chart's workloads and the app behind each: which loader field is the port its probes must hit. */
export const COMPONENTS: Record<string, { app: string; portField?: string }> = {
  gateway: { app: 'apps/gateway', portField: 'port' },
  scheduler: { app: 'apps/scheduler', portField: 'httpPort' },
  prepuller: { app: 'apps/prepuller', portField: 'httpPort' },
  agent: { app: 'apps/worker-agent', portField: 'agentPort' },
};

/** What the downward API would give (a cloud provider's Node name, dots included, as the agent's NODE_ID takes it). */
const FIELD_SAMPLES: Record<string, string> = {
  'spec.nodeName': 'ip-10-0-0-7.ec2.internal',
  'status.hostIP': '10.0.0.7',
  'metadata.namespace': 'warmpod',
};

const probe = z
  .object({
    httpGet: z
      .object({ path: z.string(), port: z.union([z.string(), z.number()]) })
      .passthrough()
      .optional(),
  })
  .passthrough()
  .extend({ tcpSocket: z.object({ port: z.union([z.string(), z.number()]) }).optional() });
const container = z
  .object({
    name: z.string(),
    env: z.array(envVarSchema).default([]),
    ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number() }).passthrough()).default([]),
    volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() }).passthrough()).default([]),
    startupProbe: probe.optional(),
    livenessProbe: probe.optional(),
    readinessProbe: probe.optional(),
  })
  .passthrough();
const workload = z.object({
  metadata: z.object({ labels: z.record(z.string(), z.string()) }).passthrough(),
  spec: z
    .object({
      template: z.object({
        spec: z
          .object({
            containers: z.array(container),
            volumes: z
              .array(
                z
                  .object({
                    name: z.string(),
                    secret: z
                      .object({ secretName: z.string(), items: z.array(z.object({ key: z.string(), path: z.string() })) })
                      .optional(),
                  })
                  .passthrough(),
              )
              .default([]),
          })
          .passthrough(),
      }),
    })
    .passthrough(),
});
const secret = z
  .object({ metadata: z.object({ name: z.string() }).passthrough(), data: z.record(z.string(), z.string()).default({}) })
  .passthrough();

export type Container = z.infer<typeof container>;
export interface Workload {
  component: string;
  container: Container;
  /** Secret volumes: mount path -> (file -> secret name/key). */
  secretFiles: Array<{ mountPath: string; path: string; secret: string; key: string }>;
}

/** The Deployments and DaemonSets of warmpod's own components (the bundled Redis is not an app of the project). */
export function workloadsOf(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .flatMap((o) => {
      const w = workload.parse(o);
      const component = w.metadata.labels['app.kubernetes.io/component'] ?? '';
      if (!COMPONENTS[component]) throw new Error(`${o.kind}/${o.metadata.name}: component "${component}" is not one of the apps`);
      return w.spec.template.spec.containers.map((c) => ({
        component,
        container: c,
        secretFiles: c.volumeMounts.flatMap((m) => {
          const v = w.spec.template.spec.volumes.find((vol) => vol.name === m.name)?.secret;
          return v ? v.items.map((i) => ({ mountPath: m.mountPath, path: i.path, secret: v.secretName, key: i.key })) : [];
        }),
      }));
    });
}

/** Secret name/key -> value: the chart's own Secrets decoded, plus samples for Secrets the operator brings. */
export function secretValues(objects: readonly K8sObject[], external: Record<string, string> = {}): Map<string, string> {
  const values = new Map(Object.entries(external));
  for (const o of objects.filter((x) => x.kind === 'Secret')) {
    const s = secret.parse(o);
    for (const [key, b64] of Object.entries(s.data)) values.set(`${s.metadata.name}/${key}`, Buffer.from(b64, 'base64').toString('utf8'));
  }
  return values;
}

export interface ResolvedEnv {
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** The environment the container would see: secrets and downward-API fields filled in, mounted secret files written to a temp dir. */
export async function resolveEnv(w: Workload, secrets: Map<string, string>): Promise<ResolvedEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'warmpod-wiring-'));
  const lookup = (name: string, key: string, where: string): string => {
    const v = secrets.get(`${name}/${key}`);
    if (v === undefined) throw new Error(`${w.component}: ${where} reads Secret ${name} key ${key}, which is neither rendered nor given`);
    return v;
  };
  try {
    for (const f of w.secretFiles) {
      const target = join(dir, f.mountPath, f.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, lookup(f.secret, f.key, `volume at ${f.mountPath}`));
    }
    const env: Record<string, string> = {};
    for (const e of w.container.env) {
      let value: string;
      if (e.value !== undefined) value = e.value;
      else if (e.valueFrom?.secretKeyRef) value = lookup(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key, e.name);
      else if (e.valueFrom?.fieldRef) {
        const sample = FIELD_SAMPLES[e.valueFrom.fieldRef.fieldPath];
        if (sample === undefined)
          throw new Error(`${w.component}: ${e.name} uses field ${e.valueFrom.fieldRef.fieldPath}, which this check cannot fill`);
        value = sample;
      } else throw new Error(`${w.component}: ${e.name} has neither a value nor a source`);
      // A path into a mounted secret points into the temp copy of it.
      const mount = w.secretFiles.find((f) => value.startsWith(`${f.mountPath}/`));
      env[e.name] = mount ? join(dir, value) : value;
    }
    return { env, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export type ConfigLoader = (env: Record<string, string | undefined>) => unknown;

/** The app's exported config loader (the one exported function named `...Config`) from its build output. */
export async function configLoaderOf(app: string): Promise<ConfigLoader> {
  const path = join(REPO_ROOT, app, 'dist', 'config.js');
  // Loaded by path at run time: the check couples to "call the app's config loader with an env map", nothing more.
  const mod: unknown = await import(pathToFileURL(path).href);
  if (typeof mod !== 'object' || mod === null) throw new Error(`${path} exports nothing`);
  const loaders = Object.entries(mod).filter(([name, v]) => /config$/i.test(name) && typeof v === 'function');
  if (loaders.length !== 1)
    throw new Error(`${path}: expected one exported *Config function, found ${loaders.map(([n]) => n).join(', ') || 'none'}`);
  const fn: unknown = loaders[0]![1];
  return (env) => (typeof fn === 'function' ? fn(env) : undefined);
}

const stable = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? [...x.entries()] : x));
const PROBE_VALUE = 'zz-wiring-probe';

/**
 * The wiring of one container: the app accepts the chart's environment as it
 * is (so every required setting has a value), and every variable the chart
 * sets is one the app reads: set to a probe value, it either is refused by
 * name or changes the loaded config. Probes hit a declared port that is the
 * port the app listens on.
 */
export function wiringProblems(w: Workload, env: Record<string, string>, load: ConfigLoader): string[] {
  const where = `${w.component}/${w.container.name}`;
  let baseline: unknown;
  try {
    baseline = load(env);
  } catch (error) {
    return [`${where}: the app refuses the chart's environment: ${error instanceof Error ? error.message : String(error)}`];
  }
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    try {
      if (stable(load({ ...env, [name]: PROBE_VALUE })) === stable(baseline))
        problems.push(`${where}: ${name} is not read by the app's config`);
    } catch (error) {
      if (!(error instanceof Error && error.message.includes(name)))
        problems.push(`${where}: ${name}: refused without naming it: ${String(error)}`);
    }
  }
  const portField = COMPONENTS[w.component]?.portField;
  const listens = portField
    ? z
        .object({ [portField]: z.number() })
        .passthrough()
        .safeParse(baseline)
    : undefined;
  for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
    const p = w.container[kind];
    if (!p) continue;
    const port = p.httpGet?.port ?? p.tcpSocket?.port;
    const declared = w.container.ports.find((cp) => cp.name === port || cp.containerPort === port);
    if (!declared) problems.push(`${where}: ${kind} port ${String(port)} is not a declared container port`);
    else if (!listens?.success || listens.data[portField!] !== declared.containerPort) {
      problems.push(
        `${where}: ${kind} probes port ${declared.containerPort}, but the app listens on ${listens?.success ? String(listens.data[portField!]) : 'no port'}`,
      );
    }
  }
  return problems;
}
