import { randomUUID } from 'node:crypto';
import { Client, credentials, Metadata, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { newId, normaliseSpec } from '@warmpod/domain';
import { createLogger } from '@warmpod/observability';
import { NodeRepository, NodeSessions, PodRepository, type PodDefinition } from '@warmpod/store';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import type { CachedImageMessage, RegisterRequest, RegisterResponse, SchedulerInstruction } from '../messages';
import { connectMethod, registerMethod } from '../proto';
import { NodeRegistryServer } from '../registry-server';

/** Integration-test support: real Redis on a key prefix of its own, real gRPC on 127.0.0.1. */

export const REDIS = { ...redisOptions(), maxRetriesPerRequest: null };
export const silent = createLogger({ service: 'node-registry-int', level: 'silent' });
export const digest = (c: string): string => `sha256:${c.repeat(64)}`;

export function image(c: string, layers: Array<[string, number]>): CachedImageMessage {
  return {
    digest: digest(c),
    sizeBytes: layers.reduce((sum, [, size]) => sum + size, 1_000),
    layers: layers.map(([l, sizeBytes]) => ({ digest: digest(l), sizeBytes })),
  };
}

export function registration(nodeId: string, over: Partial<RegisterRequest> = {}): RegisterRequest {
  return {
    nodeId,
    labels: { zone: 'a' },
    capacity: { cpu: 4, memoryMib: 8192, gpu: 2 },
    gpus: [{ model: 'sim-h100', count: 2 }],
    capabilities: {
      runtime: 'runc',
      runcVersion: '1.1.12',
      criuVersion: '3.17.1',
      criuOk: false,
      criuReason: 'criu check failed: no kernel support',
      kernel: '6.1.0-test',
      arch: 'x64',
      cpuFlags: ['avx2', 'sse4_2'],
    },
    agentUrl: 'http://127.0.0.1:9999',
    ...over,
  };
}

export interface Scope {
  prefix: string;
  nodes: NodeRepository;
  pods: PodRepository;
  server: NodeRegistryServer;
  port: number;
  target: string;
}

/** One test file's Redis prefix, servers and clients, all released by `cleanup()`. */
export class RegistryFixture {
  readonly filePrefix = `t-${randomUUID().slice(0, 8)}:`;
  readonly redis = new Redis(REDIS);
  private counter = 0;
  private readonly closers: Array<() => Promise<unknown> | unknown> = [];

  onCleanup(close: () => Promise<unknown> | unknown): void {
    this.closers.push(close);
  }

  async scope(heartbeatIntervalMs = 60_000): Promise<Scope> {
    const prefix = `${this.filePrefix}${++this.counter}:`;
    const nodes = new NodeRepository(this.redis, prefix);
    const pods = new PodRepository(this.redis, prefix);
    const server = await this.server(prefix, 0, heartbeatIntervalMs);
    return { prefix, nodes, pods, server, port: server.port, target: `127.0.0.1:${server.port}` };
  }

  async server(prefix: string, port: number, heartbeatIntervalMs = 60_000): Promise<NodeRegistryServer> {
    const server = new NodeRegistryServer({
      store: new NodeSessions(this.redis, prefix),
      pods: new PodRepository(this.redis, prefix),
      logger: silent,
      heartbeatIntervalMs,
    });
    await server.listen('127.0.0.1', port);
    this.onCleanup(() => server.close(200));
    return server;
  }

  client(target: string): Client {
    const client = new Client(target, credentials.createInsecure());
    this.onCleanup(() => client.close());
    return client;
  }

  /** A pod record, placed on `node` in `phase` (through the allowed transitions). */
  async pod(pods: PodRepository, node: string | undefined, phase: 'Pending' | 'Scheduled' | 'Running' | 'Succeeded'): Promise<string> {
    const def: PodDefinition = {
      id: newId('pod'),
      tenant: 'acme',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'x', pinned: `127.0.0.1:5000/x@${digest('f')}`, digest: digest('f') },
      spec: normaliseSpec({ image: 'x' }),
    };
    await pods.create(def);
    const path = {
      Pending: [],
      Scheduled: ['Scheduled'],
      Running: ['Scheduled', 'Starting', 'Running'],
      Succeeded: ['Scheduled', 'Starting', 'Running', 'Succeeded'],
    } as const;
    for (const to of path[phase]) {
      const moved = await pods.transition(def.id, to, to === 'Scheduled' ? { node: node ?? null } : {});
      if (!moved.applied) throw new Error(`could not move ${def.id} to ${to}`);
    }
    return def.id;
  }

  async cleanup(): Promise<void> {
    for (const close of this.closers.reverse()) await close();
    await dropKeys(this.redis, this.filePrefix);
    await this.redis.quit();
  }
}

/** Register through a plain gRPC client; rejects with the ServiceError. */
export function register(client: Client, request: unknown, serialize?: (value: unknown) => Buffer): Promise<RegisterResponse> {
  const method = registerMethod();
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      serialize ?? method.requestSerialize,
      method.responseDeserialize,
      request,
      new Metadata(),
      {},
      (error, response) => (error ? reject(error) : resolve(response as RegisterResponse)),
    ),
  );
}

export function isStatus(code: number, details?: RegExp): (error: unknown) => boolean {
  return (error) => (error as ServiceError).code === code && (!details || details.test((error as ServiceError).details));
}

/** A Connect stream with its instructions collected and its final status awaitable. */
export interface TestStream {
  call: ClientDuplexStream<unknown, unknown>;
  instructions: SchedulerInstruction[];
  status: Promise<StatusObject>;
  /** Resolves once `count` instructions arrived in total. */
  received(count: number, timeoutMs?: number): Promise<SchedulerInstruction[]>;
}

export function connect(client: Client, serialize?: (value: unknown) => Buffer): TestStream {
  const method = connectMethod();
  const call = client.makeBidiStreamRequest(method.path, serialize ?? method.requestSerialize, method.responseDeserialize);
  const instructions: SchedulerInstruction[] = [];
  call.on('data', (i: SchedulerInstruction) => instructions.push(i));
  call.on('error', () => undefined);
  const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  const received = async (count: number, timeoutMs = 3_000): Promise<SchedulerInstruction[]> => {
    const deadline = Date.now() + timeoutMs;
    while (instructions.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} instructions, got ${JSON.stringify(instructions)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return instructions;
  };
  return { call, instructions, status, received };
}

/** Polls until `check` holds (state reached through another process or connection). */
export async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
    last = await read();
  }
  return last;
}
