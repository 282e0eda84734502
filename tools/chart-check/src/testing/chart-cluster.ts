import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterPki, freePort, runTool } from '@warmpod/devkit';
import { INTAKE_QUEUES } from '@warmpod/client';
import {
  applyAclUsers,
  connectRedis,
  intakeConsumerUser,
  intakeProducerUser,
  Keys,
  redisUrlAs,
  serviceUser,
  WARMPOD_SERVICES,
} from '@warmpod/store';
import { Helm } from '../helm';
import { ImageUnpacker } from './image-unpack';
import { planPods, type Plan } from './pod-plan';
import { mountsUnder, namesIn, RuncKubelet } from './runc-kubelet';

export interface ChartClusterOptions {
  workDir: string;
  /** host:port of the (loopback, plain HTTP) registry holding warmpod's images and the pods' images. */
  registry: string;
  /** Service -> digest of the images `npm run images` pushed there. */
  digests: Record<'gateway' | 'scheduler' | 'prepuller' | 'worker-agent', string>;
  /** Admin URL of a Redis of the run's own: the services get their own ACL users in it. */
  redisUrl: string;
  log: (line: string) => void;
}

export const TENANT_TOKEN = 'chart-run-token-0123456789';
const NAMESPACE = 'warmpod';

/**
 * The chart installed "here": rendered by the real helm with values a
 * one-machine cluster needs (free ports, a private data dir, bridge and
 * subnet, the run's Redis with one ACL user per service, certificates from a
 * throw-away cluster CA, a node named like a cloud Node, dots included), and
 * run by `RuncKubelet`. The node-level sweep after `stop` removes what the
 * node itself would keep across agent restarts (its bridge, cgroup parent,
 * data dir) and `leftovers` then checks that nothing at all remains.
 */
export class ChartCluster {
  readonly nodeName = `ip-127-0-0-1.cr${randomBytes(3).toString('hex')}.internal`;
  readonly bridge = `wpcr${randomBytes(3).toString('hex')}`;
  private kubelet?: RuncKubelet;
  private helm?: Helm;
  gatewayUrl = '';
  plan?: Plan;
  /** The queue door of tenant team-a as its producer sees it (its own ACL user). */
  producer?: { url: string; queuePrefix: string; ownQueuesPrefix: string };

  constructor(private readonly o: ChartClusterOptions) {}

  private get dataDir(): string {
    return join(this.o.workDir, 'node-data');
  }

  /** Renders the chart, then starts the scheduler, gateway and prepuller, then the agent, each until ready. */
  async start(): Promise<void> {
    const { workDir, log } = this.o;
    await mkdir(workDir, { recursive: true });
    const pki = await ClusterPki.open(join(workDir, 'pki'));
    const secrets: Record<string, string> = {};
    for (const service of ['scheduler', 'gateway']) {
      const cert = await pki.issue(`service:${service}`);
      for (const [key, file] of [
        ['ca.crt', cert.caFile],
        ['tls.crt', cert.certFile],
        ['tls.key', cert.keyFile],
      ] as const)
        secrets[`chartrun-${service}-tls/${key}`] = await readFile(file, 'utf8');
    }
    // The agent's certificate lives on the node (tls.agentHostPath), as the chart expects.
    const nodePki = join(workDir, 'node-pki');
    await mkdir(nodePki, { recursive: true });
    const nodeCert = await pki.issue(`node:${this.nodeName}`);
    await copyFile(nodeCert.caFile, join(nodePki, 'ca.crt'));
    await copyFile(nodeCert.certFile, join(nodePki, 'tls.crt'));
    await copyFile(nodeCert.keyFile, join(nodePki, 'tls.key'));
    const prefix = `cr${randomBytes(3).toString('hex')}:`;
    const password = () => randomBytes(18).toString('base64url');
    const users = WARMPOD_SERVICES.map((s) => serviceUser(prefix, s, password()));
    // The queue door: its consumer (the gateway's INTAKE_REDIS_URL) and team-a's producer, each its own user.
    const consumer = intakeConsumerUser(prefix, password());
    const producer = intakeProducerUser(prefix, 'team-a', password(), INTAKE_QUEUES);
    const admin = connectRedis(this.o.redisUrl, 'chart-run-acl', 'producer');
    try {
      await applyAclUsers(admin, [...users, consumer, producer]);
    } finally {
      admin.disconnect();
    }
    WARMPOD_SERVICES.forEach((s, i) => (secrets[`chartrun-redis-users/${s}`] = users[i]!.password));
    secrets['chartrun-intake/url'] = redisUrlAs(this.o.redisUrl, consumer);
    const keys = new Keys(prefix);
    this.producer = {
      url: redisUrlAs(this.o.redisUrl, producer),
      queuePrefix: keys.intakePrefix('team-a'),
      ownQueuesPrefix: keys.tenantQueuesPrefix('team-a'),
    };
    const ports = {
      gateway: await freePort(),
      grpc: await freePort(),
      scheduler: await freePort(),
      prepuller: await freePort(),
      agent: await freePort(),
    };
    const octet = () => 16 + (randomBytes(1)[0]! % 200);
    const values: Record<string, unknown> = {
      'global.imageRegistry': this.o.registry,
      prefix,
      logLevel: 'info',
      'redis.url': this.o.redisUrl,
      'redis.users.existingSecret': 'chartrun-redis-users',
      'auth.tokens': { [TENANT_TOKEN]: { tenant: 'team-a', role: 'tenant' } },
      'tls.schedulerSecret': 'chartrun-scheduler-tls',
      'tls.gatewaySecret': 'chartrun-gateway-tls',
      'tls.agentHostPath': nodePki,
      'gateway.port': ports.gateway,
      'gateway.defaultRegistry': this.o.registry,
      'gateway.insecureRegistries': [this.o.registry],
      'gateway.intake.tenants': ['team-a'],
      'gateway.intake.redis': { existingSecret: 'chartrun-intake', existingSecretKey: 'url' },
      'scheduler.grpcPort': ports.grpc,
      'scheduler.httpPort': ports.scheduler,
      'prepuller.httpPort': ports.prepuller,
      'agent.port': ports.agent,
      'agent.dataDir': this.dataDir,
      'agent.bridge': this.bridge,
      'agent.subnet': `10.${octet()}.${octet()}.0/24`,
      'agent.capacity': { cpu: 2, memoryMiB: 2048, gpu: 0, gpuModel: 'generic' },
      'agent.stopGraceMs': 2000,
    };
    for (const [service, key] of [
      ['gateway', 'gateway'],
      ['scheduler', 'scheduler'],
      ['prepuller', 'prepuller'],
      ['worker-agent', 'agent'],
    ] as const)
      values[`${key}.image.digest`] = this.o.digests[service];
    this.helm = await Helm.open();
    const rendered = await this.helm.template({ setJson: values, namespace: NAMESPACE });
    if ('error' in rendered) throw new Error(`helm template: ${rendered.error}`);
    this.plan = planPods({
      objects: rendered.objects,
      namespace: NAMESPACE,
      nodes: [{ name: this.nodeName, hostIP: '127.0.0.1' }],
      externalSecrets: secrets,
    });
    log(`chart rendered: ${rendered.objects.length} objects, ${this.plan.containers.length} containers on node ${this.nodeName}`);
    this.kubelet = new RuncKubelet({
      workDir: join(workDir, 'kubelet'),
      plan: this.plan,
      images: new ImageUnpacker(join(workDir, 'images'), { insecure: true }),
      nodeRoot: workDir,
      log,
    });
    this.gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
    const order = ['scheduler', 'gateway', 'prepuller'];
    for (const component of order) await this.kubelet.startAll((c) => c.workload.endsWith(`-${component}`));
    await this.kubelet.startAll((c) => c.node !== undefined);
  }

  problems(): string[] {
    return this.kubelet?.problems() ?? [];
  }

  logOf(pod: string): Promise<string> {
    return this.kubelet?.logOf(pod) ?? Promise.resolve('');
  }

  /**
   * Stops the containers, then sweeps the node as a node's own teardown
   * would (what the agent keeps across restarts on purpose). Returns what
   * the sweep found, so a report can say what the agent itself left.
   */
  async stop(): Promise<string[]> {
    const errors: string[] = [];
    await this.kubelet?.stop().catch((e: unknown) => errors.push(String(e)));
    await this.helm?.close();
    const swept = await this.sweepNode().catch((e: unknown) => {
      errors.push(`node sweep: ${String(e)}`);
      return [];
    });
    if (errors.length > 0) throw new Error(errors.join('; '));
    return swept;
  }

  private async sweepNode(): Promise<string[]> {
    const swept: string[] = [];
    const runcRoot = join(this.dataDir, 'runc');
    for (const id of await namesIn(runcRoot)) {
      await runTool('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
      swept.push(`pod container ${id}`);
    }
    for (const m of (await mountsUnder(this.dataDir)).reverse()) {
      await runTool('umount', ['-l', m]);
      swept.push(`mount ${m}`);
    }
    for (const ns of (await namesIn('/run/netns')).filter((n) => n.startsWith(`wp.${this.bridge}.`))) {
      await runTool('ip', ['netns', 'delete', ns]);
      swept.push(`netns ${ns}`);
    }
    if ((await namesIn('/sys/class/net')).includes(this.bridge)) {
      await runTool('ip', ['link', 'delete', this.bridge]);
      swept.push(`bridge ${this.bridge}`);
    }
    const cgroup = join('/sys/fs/cgroup', `warmpod-${this.nodeName}`);
    // Pods' cgroups (directories; the files of a cgroup all have a dot in their names).
    for (const child of (await namesIn(cgroup)).filter((n) => !n.includes('.'))) {
      await rmdir(join(cgroup, child));
      swept.push(`cgroup ${cgroup}/${child}`);
    }
    if ((await namesIn('/sys/fs/cgroup')).includes(`warmpod-${this.nodeName}`)) {
      await runTool('rmdir', [cgroup]);
      swept.push(`cgroup ${cgroup}`);
    }
    await rm(this.o.workDir, { recursive: true, force: true });
    return swept;
  }

  /** Anything of the run still on the machine: containers, mounts, netns, bridge, cgroups. */
  async leftovers(): Promise<string[]> {
    const found = (await this.kubelet?.leftovers()) ?? [];
    for (const m of await mountsUnder(this.o.workDir)) found.push(`mount ${m}`);
    for (const ns of (await namesIn('/run/netns')).filter((n) => n.startsWith(`wp.${this.bridge}.`))) found.push(`netns ${ns}`);
    if ((await namesIn('/sys/class/net')).includes(this.bridge)) found.push(`bridge ${this.bridge}`);
    if ((await namesIn('/sys/fs/cgroup')).includes(`warmpod-${this.nodeName}`)) found.push(`cgroup warmpod-${this.nodeName}`);
    return found;
  }
}
