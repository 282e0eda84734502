import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointRepository, NodeSessions, PodRepository } from '@warmpod/store';
import { hashToken } from '../auth/tokens';
import { RUNTIME } from './checkpoints';
import { call, startGateway, Traces, uniquePrefix, type TestGateway } from './harness';
import { startRegistry, type TestRegistry } from './registry';

/** One tenant's resources, made through the API as that tenant. */
export interface TenantWorld {
  tenant: string;
  token: string;
  image: string;
  pod: string;
  pin: string;
  pool: string;
  checkpoint: string;
}

export const NODE = 'node-shared';
const SESSION = 'isolation-session';

const expectStatus = (what: string, res: { status: number; body: unknown }, status: number): void => {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
};

const idOf = (body: unknown, field = 'id'): string => {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string') throw new Error(`no ${field} in ${JSON.stringify(body)}`);
  return value;
};

/**
 * Two tenants and an operator on one real gateway (real Redis, a real local
 * registry), each tenant holding one of everything: a Running pod on a shared
 * CRIU-capable node, a pin, a pool and an available checkpoint. The node
 * reports both tenants' pods and checkpoints, as an agent would. Tenant names
 * and tokens are random, so a scan for them cannot match by chance.
 */
export class IsolationWorld {
  private constructor(
    readonly gateway: TestGateway,
    readonly a: TenantWorld,
    readonly b: TenantWorld,
    readonly operatorToken: string,
    private readonly traces: Traces,
    private readonly registry: TestRegistry,
    private readonly agent: Server,
    private readonly dir: string,
  ) {}

  static async start(): Promise<IsolationWorld> {
    const suffix = randomBytes(4).toString('hex');
    const tokens = {
      a: `tok-a-${randomBytes(12).toString('hex')}`,
      b: `tok-b-${randomBytes(12).toString('hex')}`,
      operator: `tok-op-${randomBytes(12).toString('hex')}`,
    };
    const tenants = { a: `acme-${suffix}`, b: `globex-${suffix}` };
    const dir = await mkdtemp(join(tmpdir(), 'gateway-isolation-'));
    const registry = await startRegistry(dir);
    const images = { a: `${tenants.a}/app:v1`, b: `${tenants.b}/app:v1` };
    await registry.push(`${tenants.a}/app`, 'v1', 'a');
    await registry.push(`${tenants.b}/app`, 'v1', 'b');
    // Stands in for the node agent's log endpoint; says nothing tenant-specific.
    const agent = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('a log line\n'));
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    const prefix = uniquePrefix('isolation');
    const gateway = await startGateway({
      WARMPOD_PREFIX: prefix,
      WARMPOD_DEFAULT_REGISTRY: registry.host,
      NODE_READY_WINDOW_MS: '600000',
      // Event streams are read up to their first heartbeat (see harness `call`).
      EVENTS_HEARTBEAT_MS: '100',
      WARMPOD_TOKENS: JSON.stringify({
        [tokens.a]: { tenant: tenants.a, role: 'tenant' },
        [hashToken(tokens.b)]: { tenant: tenants.b, role: 'tenant' },
        [tokens.operator]: { tenant: `ops-${suffix}`, role: 'operator' },
      }),
    });
    const traces = new Traces(prefix);
    const nodes = new NodeSessions(traces.redis, prefix);
    await nodes.register(
      {
        id: NODE,
        labels: {},
        capacity: { cpu: 8, memoryMiB: 16384, gpu: 0 },
        agentUrl: `http://127.0.0.1:${(agent.address() as AddressInfo).port}`,
        capabilities: {
          runtime: 'runc',
          runcVersion: RUNTIME.runcVersion,
          criuVersion: RUNTIME.criuVersion,
          criuOk: true,
          criuReason: '',
          criuMode: RUNTIME.criuMode,
          kernel: RUNTIME.kernel,
          arch: RUNTIME.arch,
          cpuFlags: RUNTIME.cpuFlags.join(' '),
        },
      },
      SESSION,
    );
    const world = async (key: 'a' | 'b'): Promise<TenantWorld> =>
      populate(gateway.url, traces, { tenant: tenants[key], token: tokens[key], image: images[key] });
    const a = await world('a');
    const b = await world('b');
    const checkpoints = new CheckpointRepository(traces.redis, prefix);
    const reported = await Promise.all([a.checkpoint, b.checkpoint].map((id) => checkpoints.get(id)));
    const write = await nodes.applyInventory(NODE, SESSION, {
      images: [],
      runningPods: [a.pod, b.pod],
      checkpoints: reported.map((c) => ({ id: idOf(c), key: idOf(c, 'key'), state: 'available', sizeBytes: 1024 })),
    });
    if (write !== 'applied') throw new Error(`node inventory not applied: ${write}`);
    return new IsolationWorld(gateway, a, b, tokens.operator, traces, registry, agent, dir);
  }

  async close(): Promise<void> {
    await this.gateway.close();
    await new Promise((resolve) => this.agent.close(resolve));
    await this.traces.cleanUp();
    await this.registry.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A pod (admitted, then moved to Running on the node as the scheduler and agent would), a pin, a pool, a checkpoint. */
async function populate(url: string, traces: Traces, t: { tenant: string; token: string; image: string }): Promise<TenantWorld> {
  const as = { token: t.token };
  const admitted = await call(url, 'POST', '/v1/pods', { ...as, body: { image: t.image } });
  expectStatus(`${t.tenant}: POST /v1/pods`, admitted, 202);
  const pod = idOf(admitted.body);
  const pods = new PodRepository(traces.redis, traces.prefix);
  await pods.transition(pod, 'Scheduled', { node: NODE });
  await pods.transition(pod, 'Starting');
  await pods.transition(pod, 'Running');
  const pinned = await call(url, 'POST', '/v1/images', { ...as, body: { image: t.image } });
  expectStatus(`${t.tenant}: POST /v1/images`, pinned, 201);
  const pool = `${t.tenant}-pool`;
  const pooled = await call(url, 'POST', '/v1/pools', { ...as, body: { name: pool, image: t.image, size: 1, podTemplate: {} } });
  expectStatus(`${t.tenant}: POST /v1/pools`, pooled, 201);
  const taken = await call(url, 'POST', `/v1/pods/${pod}/checkpoint`, as);
  expectStatus(`${t.tenant}: POST /v1/pods/{id}/checkpoint`, taken, 202);
  const checkpoint = idOf(taken.body);
  // As the agent reports a finished checkpoint: the next on-demand one is not "in progress".
  await new CheckpointRepository(traces.redis, traces.prefix).markAvailable(checkpoint, 1024);
  return { ...t, pod, pin: idOf(pinned.body), pool, checkpoint };
}
