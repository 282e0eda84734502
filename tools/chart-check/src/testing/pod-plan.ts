import { z } from 'zod';
import type { K8sObject } from '../helm';
import { envVarSchema } from '../k8s-fields';

/**
 * What a kubelet would run for the rendered chart, worked out from `helm
 * template` output alone: one pod per Deployment or StatefulSet (one replica
 * is enough to prove the pieces fit), one per DaemonSet and local node. Each
 * container's env is resolved (values, Secret keys, the downward API's node
 * name and host IP), its volumes turned into host paths, emptyDirs and Secret
 * files, its probes into HTTP checks on a port number, and every Service name
 * into 127.0.0.1 (the pods all share the host's network here, as the agent
 * does in a cluster). Pure: the runner (runc) acts on the plan.
 */

const port = z.union([z.string(), z.number().int()]);
const probe = z
  .object({
    httpGet: z.object({ path: z.string(), port, scheme: z.enum(['HTTP', 'HTTPS']).optional() }).optional(),
    tcpSocket: z.object({ port }).optional(),
    exec: z.object({ command: z.array(z.string()) }).optional(),
    periodSeconds: z.number().int().optional(),
    failureThreshold: z.number().int().optional(),
  })
  .passthrough();
const container = z
  .object({
    name: z.string(),
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    env: z.array(envVarSchema).default([]),
    ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number().int() }).passthrough()).default([]),
    volumeMounts: z
      .array(
        z
          .object({
            name: z.string(),
            mountPath: z.string().startsWith('/'),
            readOnly: z.boolean().optional(),
            subPath: z.string().optional(),
            mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional(),
          })
          .passthrough(),
      )
      .default([]),
    securityContext: z
      .object({
        privileged: z.boolean().optional(),
        runAsUser: z.number().int().optional(),
        runAsGroup: z.number().int().optional(),
        readOnlyRootFilesystem: z.boolean().optional(),
        allowPrivilegeEscalation: z.boolean().optional(),
        capabilities: z.object({ drop: z.array(z.string()).optional(), add: z.array(z.string()).optional() }).optional(),
      })
      .passthrough()
      .optional(),
    startupProbe: probe.optional(),
    livenessProbe: probe.optional(),
    readinessProbe: probe.optional(),
  })
  .passthrough();
const volume = z
  .object({
    name: z.string(),
    hostPath: z.object({ path: z.string().startsWith('/'), type: z.string().optional() }).optional(),
    emptyDir: z.object({}).passthrough().optional(),
    secret: z
      .object({ secretName: z.string(), items: z.array(z.object({ key: z.string(), path: z.string() })).optional() })
      .passthrough()
      .optional(),
    persistentVolumeClaim: z.object({ claimName: z.string() }).optional(),
  })
  .passthrough();
const podSpec = z
  .object({
    hostNetwork: z.boolean().optional(),
    hostPID: z.boolean().optional(),
    securityContext: z.object({ runAsUser: z.number().int().optional(), runAsGroup: z.number().int().optional() }).passthrough().optional(),
    initContainers: z.array(container).optional(),
    containers: z.array(container).min(1),
    volumes: z.array(volume).default([]),
  })
  .passthrough();
const workload = z
  .object({
    kind: z.enum(['Deployment', 'DaemonSet', 'StatefulSet']),
    metadata: z.object({ name: z.string() }).passthrough(),
    spec: z.object({ template: z.object({ spec: podSpec }).passthrough() }).passthrough(),
  })
  .passthrough();
const secretObject = z
  .object({ metadata: z.object({ name: z.string() }).passthrough(), data: z.record(z.string(), z.string()).default({}) })
  .passthrough();
const serviceObject = z.object({ metadata: z.object({ name: z.string(), namespace: z.string().optional() }).passthrough() }).passthrough();

export type Mount =
  | { kind: 'host'; hostPath: string; mountPath: string; readOnly: boolean; propagation: 'rprivate' | 'rslave' | 'rshared' }
  | { kind: 'empty'; volume: string; mountPath: string; readOnly: boolean }
  | { kind: 'files'; files: Array<{ path: string; content: string }>; mountPath: string };

export interface HttpProbe {
  kind: 'startup' | 'liveness' | 'readiness';
  scheme: 'http' | 'https';
  port: number;
  path: string;
}

export interface ContainerPlan {
  /** Unique per run: the workload's name, plus the node for a DaemonSet's pods. */
  pod: string;
  workload: string;
  node?: string;
  name: string;
  image: string;
  /** The process as Kubernetes would start it: command (else the image's entrypoint) then args. */
  command?: string[];
  args: string[];
  env: Record<string, string>;
  mounts: Mount[];
  privileged: boolean;
  readOnlyRoot: boolean;
  /** capabilities.drop: ["ALL"] (no capability added back: the chart adds none). */
  dropAllCaps: boolean;
  /** allowPrivilegeEscalation: false. */
  noNewPrivileges: boolean;
  hostNetwork: boolean;
  hostPID: boolean;
  user?: { uid: number; gid: number };
  probes: HttpProbe[];
}

export interface PlanInput {
  objects: readonly K8sObject[];
  namespace: string;
  /** Local nodes: a DaemonSet runs once on each. */
  nodes: ReadonlyArray<{ name: string; hostIP: string }>;
  /** Secret name/key -> value for Secrets the chart does not render. */
  externalSecrets?: Record<string, string>;
}

export interface Plan {
  containers: ContainerPlan[];
  /** Every DNS name of every Service (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`), each 127.0.0.1 here. */
  serviceHosts: string[];
}

export function planPods(input: PlanInput): Plan {
  const secrets = new Map(Object.entries(input.externalSecrets ?? {}));
  for (const o of input.objects.filter((x) => x.kind === 'Secret')) {
    const s = secretObject.parse(o);
    for (const [key, b64] of Object.entries(s.data)) secrets.set(`${s.metadata.name}/${key}`, Buffer.from(b64, 'base64').toString('utf8'));
  }
  const serviceHosts = input.objects
    .filter((o) => o.kind === 'Service')
    .flatMap((o) => {
      const n = serviceObject.parse(o).metadata.name;
      const ns = input.namespace;
      return [n, `${n}.${ns}`, `${n}.${ns}.svc`, `${n}.${ns}.svc.cluster.local`];
    });
  const containers: ContainerPlan[] = [];
  for (const o of input.objects.filter((x) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(x.kind))) {
    const w = workload.parse(o);
    const where = `${w.kind}/${w.metadata.name}`;
    const spec = w.spec.template.spec;
    if (spec.initContainers?.length) throw new Error(`${where}: init containers are not run by this harness`);
    const nodes = w.kind === 'DaemonSet' ? input.nodes : [input.nodes[0]!];
    for (const node of nodes) {
      const pod = w.kind === 'DaemonSet' ? `${w.metadata.name}-${node.name}` : w.metadata.name;
      for (const c of spec.containers) {
        const secretValue = (name: string, key: string, what: string): string => {
          const v = secrets.get(`${name}/${key}`);
          if (v === undefined)
            throw new Error(`${where}/${c.name}: ${what} reads Secret ${name} key ${key}, which is neither rendered nor given`);
          return v;
        };
        const field = (path: string): string => {
          const fields: Record<string, string> = {
            'spec.nodeName': node.name,
            'status.hostIP': node.hostIP,
            'status.podIP': node.hostIP,
            'metadata.namespace': input.namespace,
            'metadata.name': pod,
          };
          const v = fields[path];
          if (v === undefined) throw new Error(`${where}/${c.name}: field ${path} is not one this harness fills`);
          return v;
        };
        const env: Record<string, string> = {};
        for (const e of c.env) {
          if (e.value !== undefined) env[e.name] = e.value;
          else if (e.valueFrom?.secretKeyRef)
            env[e.name] = secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key, e.name);
          else if (e.valueFrom?.fieldRef) env[e.name] = field(e.valueFrom.fieldRef.fieldPath);
          else throw new Error(`${where}/${c.name}: ${e.name} has neither a value nor a source`);
        }
        const mounts = c.volumeMounts.map((m): Mount => {
          const v = spec.volumes.find((x) => x.name === m.name);
          if (!v) throw new Error(`${where}/${c.name}: mount ${m.mountPath} names volume ${m.name}, which the pod does not have`);
          if (m.subPath) throw new Error(`${where}/${c.name}: subPath mounts are not run by this harness`);
          const readOnly = m.readOnly ?? false;
          if (v.hostPath) {
            const propagation =
              m.mountPropagation === 'Bidirectional' ? 'rshared' : m.mountPropagation === 'HostToContainer' ? 'rslave' : 'rprivate';
            return { kind: 'host', hostPath: v.hostPath.path, mountPath: m.mountPath, readOnly, propagation };
          }
          // A PVC is a fresh directory here, as a new volume would be.
          if (v.emptyDir || v.persistentVolumeClaim) return { kind: 'empty', volume: `${pod}-${v.name}`, mountPath: m.mountPath, readOnly };
          if (v.secret) {
            const secret = v.secret;
            const items =
              secret.items ??
              [...secrets.keys()]
                .filter((k) => k.startsWith(`${secret.secretName}/`))
                .map((k) => ({ key: k.slice(secret.secretName.length + 1), path: k.slice(secret.secretName.length + 1) }));
            const files = items.map((i) => ({ path: i.path, content: secretValue(secret.secretName, i.key, `volume ${v.name}`) }));
            return { kind: 'files', files, mountPath: m.mountPath };
          }
          throw new Error(`${where}/${c.name}: volume ${v.name} is of a kind this harness does not run`);
        });
        const portOf = (p: string | number): number => {
          if (typeof p === 'number') return p;
          const named = c.ports.find((x) => x.name === p);
          if (!named) throw new Error(`${where}/${c.name}: probe port "${p}" is not a named port of the container`);
          return named.containerPort;
        };
        const probes: HttpProbe[] = [];
        for (const kind of ['startup', 'liveness', 'readiness'] as const) {
          const p = c[`${kind}Probe`];
          if (!p?.httpGet) continue;
          probes.push({
            kind,
            scheme: p.httpGet.scheme === 'HTTPS' ? 'https' : 'http',
            port: portOf(p.httpGet.port),
            path: p.httpGet.path,
          });
        }
        if (c.securityContext?.capabilities?.add?.length)
          throw new Error(`${where}/${c.name}: capabilities.add is not run by this harness`);
        const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
        const gid = c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup ?? uid;
        containers.push({
          pod,
          workload: w.metadata.name,
          ...(w.kind === 'DaemonSet' ? { node: node.name } : {}),
          name: c.name,
          image: c.image,
          ...(c.command ? { command: c.command } : {}),
          args: c.args ?? [],
          env,
          mounts,
          privileged: c.securityContext?.privileged ?? false,
          readOnlyRoot: c.securityContext?.readOnlyRootFilesystem ?? false,
          dropAllCaps: c.securityContext?.capabilities?.drop?.includes('ALL') ?? false,
          noNewPrivileges: c.securityContext?.allowPrivilegeEscalation === false,
          hostNetwork: spec.hostNetwork ?? false,
          hostPID: spec.hostPID ?? false,
          ...(uid !== undefined ? { user: { uid, gid: gid ?? uid } } : {}),
          probes,
        });
      }
    }
  }
  return { containers, serviceHosts };
}

/** The /etc/hosts every container gets: localhost, and each Service name on loopback. */
export function hostsFile(plan: Plan, hostname: string): string {
  const lines = ['127.0.0.1 localhost', `127.0.0.1 ${hostname}`, '::1 localhost ip6-localhost ip6-loopback'];
  for (let i = 0; i < plan.serviceHosts.length; i += 4) lines.push(`127.0.0.1 ${plan.serviceHosts.slice(i, i + 4).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
