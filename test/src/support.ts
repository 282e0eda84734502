import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { defaultNodes, LocalCluster, type ClusterNodeSpec } from '@warmpod/local-cluster';
import { ClusterPki, dropKeys, redisUrl } from '@warmpod/devkit';
import { clusterGet, readTlsMaterial, type TlsMaterial } from '@warmpod/observability';

const REDIS_URL = redisUrl();

export interface E2eCluster {
  cluster: LocalCluster;
  token: string;
  otherToken: string;
  /** An operator's token (cluster operations: cordon, drain). */
  operatorToken: string;
  workDir: string;
  bridgeTag: string;
  /** Second octet of this run's node subnets (`10.<base>.<n>.0/24`). */
  subnetBase: number;
  prefix: string;
  api(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /** Stops the cluster and drops its keys and files; resolves to what the stop found still there on the nodes. */
  cleanup(): Promise<string[]>;
}

export interface ClusterSetup {
  /** This run's nodes from its bridge tag and subnet base; `defaultNodes` when absent. */
  nodes?: (bridgeTag: string, subnetBase: number) => ClusterNodeSpec[];
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Scheduler replicas (default 1). */
  schedulerReplicas?: number;
  /** The Redis this cluster uses (default: the tests' Redis). */
  redisUrl?: string;
}

/** A whole local cluster on its own ports, prefix, bridges and subnets. */
export async function startCluster(setup: ClusterSetup = {}): Promise<E2eCluster> {
  const tag = randomBytes(2).toString('hex');
  const subnetBase = 100 + (parseInt(tag, 16) % 100);
  const workDir = await mkdtemp(join(tmpdir(), 'warmpod-e2e-'));
  const token = `t-${randomBytes(8).toString('hex')}`;
  const otherToken = `o-${randomBytes(8).toString('hex')}`;
  const operatorToken = `op-${randomBytes(8).toString('hex')}`;
  const redisUrl = setup.redisUrl ?? REDIS_URL;
  const prefix = `e2e${tag}:`;
  const cluster = await LocalCluster.start({
    root: resolve(__dirname, '..', '..'),
    workDir,
    redisUrl,
    prefix,
    gatewayPort: 0,
    registryPort: 0,
    tokens: { [token]: 'alpha', [otherToken]: 'beta' },
    operatorToken,
    ...(setup.schedulerReplicas ? { schedulerReplicas: setup.schedulerReplicas } : {}),
    nodes: (setup.nodes ?? defaultNodes)(`w${tag}`, subnetBase),
    logLevel: 'info',
    env: { HEARTBEAT_MS: '500', NODE_READY_WINDOW_MS: '3000', STOP_GRACE_MS: '2000', ...setup.env },
  }).catch(async (error: unknown) => {
    await dropPrefix(prefix, redisUrl);
    await rm(workDir, { recursive: true, force: true });
    throw error;
  });
  const api = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token !== '') headers.set('authorization', `Bearer ${init.token ?? token}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`${cluster.gatewayUrl}${path}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
  };
  return {
    cluster,
    token,
    otherToken,
    operatorToken,
    workDir,
    bridgeTag: `w${tag}`,
    subnetBase,
    prefix,
    api,
    cleanup: async () => {
      const leftovers = await cluster.stop();
      await dropPrefix(prefix, redisUrl);
      await rm(workDir, { recursive: true, force: true });
      return leftovers;
    },
  };
}

export interface PodJson {
  id: string;
  phase: string;
  node?: string;
  startMode?: string;
  exitCode?: number;
  error?: string;
  message?: string;
  endpoints: Array<{ containerPort: number; address: string }>;
  image: { requested: string; pinned: string; digest: string };
  placement?: { node: string; why: string };
  timeline: Record<string, string>;
  restarts?: number;
  /** When its readiness held (Running means ready). */
  ready?: string;
}

/** Polls a pod until `done` holds; the deadline bounds a state we can observe, not a guess. */
export async function waitForPod(e: E2eCluster, id: string, done: (p: PodJson) => boolean, timeoutMs = 30_000): Promise<PodJson> {
  const deadline = Date.now() + timeoutMs;
  let last: PodJson | undefined;
  while (Date.now() < deadline) {
    const res = await e.api(`/v1/pods/${id}`);
    last = (await res.json()) as PodJson;
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pod ${id} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

export async function createPod(e: E2eCluster, body: unknown, headers: Record<string, string> = {}): Promise<PodJson> {
  const res = await e.api('/v1/pods', { method: 'POST', body: JSON.stringify(body), headers });
  const json = (await res.json()) as PodJson;
  if (res.status !== 202 && res.status !== 200) throw new Error(`POST /v1/pods answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Deletes every key of a test run's prefix (warmpod's and BullMQ's). */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    await dropKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

export function leftoverKeys(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  return redis.keys(`${prefix}*`).finally(() => redis.disconnect());
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

/** What a node still holds for a pod: container, netns, overlay mount. */
export function podLeftovers(e: E2eCluster, node: string, podId: string): string[] {
  const found: string[] = [];
  const runcRoot = join(e.workDir, 'nodes', node, 'runc');
  const containers = JSON.parse(sh('runc', ['--root', runcRoot, 'list', '--format', 'json']) || 'null') as Array<{ id: string }> | null;
  if ((containers ?? []).some((c) => c.id === podId)) found.push('container');
  if (sh('ip', ['netns', 'list']).includes(podId.slice(-12))) found.push('netns');
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(podId)) found.push('mount');
  return found;
}

export function clusterLeftovers(e: E2eCluster): string[] {
  const found: string[] = [];
  const cgroupName = `warmpod-${e.prefix.replace(/[^A-Za-z0-9]/g, '')}-`;
  if (readdirSync('/sys/fs/cgroup/memory').some((d) => d.startsWith(cgroupName))) found.push('cgroup');
  if (sh('ip', ['-o', 'link', 'show']).includes(e.bridgeTag)) found.push('bridge');
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(e.workDir)) found.push('mount');
  return found;
}

/**
 * A spec's `after`: stops the cluster and asserts it left nothing, neither
 * cgroup, bridge nor mount on the host nor a key under its prefix. With
 * `nodesChecked`, also that the stop's own look at every node found nothing.
 */
export async function stopClusterLeavingNothing(e: E2eCluster | undefined, opts: { nodesChecked?: boolean } = {}): Promise<void> {
  if (!e) return;
  const onNodes = await e.cleanup();
  if (opts.nodesChecked) assert.deepEqual(onNodes, [], 'the stop checked every node and found nothing left');
  assert.deepEqual(clusterLeftovers(e), []);
  assert.deepEqual(await leftoverKeys(e.prefix), []);
}

/** Polls `probe` until it gives a value (every 100 ms, up to `timeoutMs`); fails naming `what`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const operatorCerts = new Map<string, Promise<TlsMaterial>>();

/**
 * GET from a node agent's API (HTTPS, mutual TLS) as an operator: a
 * certificate of the cluster's own CA, and the agent must present the
 * certificate of `nodeId`.
 */
export async function agentGet(e: E2eCluster, nodeId: string, url: string): Promise<Response> {
  let material = operatorCerts.get(e.workDir);
  if (!material) {
    material = ClusterPki.open(join(e.workDir, 'pki')).then(async (pki) => readTlsMaterial(await pki.issue('operator:e2e')));
    operatorCerts.set(e.workDir, material);
  }
  const res = await clusterGet(url, await material, { kind: 'node', name: nodeId }, 5_000);
  return new Response(res.body, { status: res.status, headers: { 'content-type': res.contentType } });
}
