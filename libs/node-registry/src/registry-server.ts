import { randomUUID } from 'node:crypto';
import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type StatusObject,
} from '@grpc/grpc-js';
import { messageOf, type ClusterTls, type Logger } from '@warmpod/observability';
import { deregisterRequestSchema, describeIssues, registerRequestSchema, type RegisterRequest, type RegisterResponse } from './messages';
import type { NodeRegistryStore, PodPlacementLookup, RegisteredNode } from './ports';
import { nodeRegistryService, UndecodableMessage } from './proto';
import {
  checkCaller,
  registryChannelCredentials,
  registryServerCredentials,
  type AuthContext,
  type CallerCheck,
  type CallerRefusal,
} from './registry-tls';
import { ReportStream, type StreamHost } from './report-stream';

export interface NodeRegistryServerOptions {
  store: NodeRegistryStore;
  pods: PodPlacementLookup;
  logger: Logger;
  /** How often agents are asked to report when nothing changed. */
  heartbeatIntervalMs: number;
  /** Largest message accepted (a full inventory of a big cache); default 64 MiB. */
  maxMessageBytes?: number;
  /**
   * The cluster TLS material: agents must present a certificate from the
   * cluster CA naming their node, and speak only for it. Without it the
   * registry is plaintext and trusts every caller (only the lib's own tests).
   */
  tls?: ClusterTls;
  /** A caller was refused for its credentials (counted by the scheduler). */
  onRefused?: (reason: CallerRefusal) => void;
}

type RegisterFailure = Pick<StatusObject, 'code' | 'details'>;

/**
 * The scheduler's side of the node registry: agents register (one session
 * each, a new registration replacing the old), then keep one Connect stream
 * of reports. Every message is validated where it enters; whatever an agent
 * sends, the answer is a status, never a crash.
 */
export class NodeRegistryServer implements StreamHost {
  readonly store: NodeRegistryStore;
  readonly pods: PodPlacementLookup;
  readonly logger: Logger;
  private server?: Server;
  private boundPort = 0;
  private boundHost = '127.0.0.1';
  private readonly streams = new Set<ReportStream>();
  private readonly byNode = new Map<string, ReportStream>();

  constructor(private readonly opts: NodeRegistryServerOptions) {
    this.store = opts.store;
    this.pods = opts.pods;
    this.logger = opts.logger;
  }

  /** Starts serving on host:port (0 picks a free port); resolves to the bound port. */
  async listen(host: string, port: number): Promise<number> {
    if (this.server) throw new Error('node registry server already listening');
    const server = new Server({
      'grpc.max_receive_message_length': this.opts.maxMessageBytes ?? 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    server.addService(nodeRegistryService(), {
      Register: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => this.onRegister(call, callback),
      Connect: (call: ServerDuplexStream<unknown, unknown>) => this.onConnect(call),
      Deregister: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => this.onDeregister(call, callback),
    });
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, this.credentials(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.server = server;
    this.boundHost = host;
    this.logger.info({ address: `${host}:${this.boundPort}`, tls: this.opts.tls !== undefined }, 'node registry listening');
    return this.boundPort;
  }

  private credentials(): ServerCredentials {
    if (this.opts.tls) return registryServerCredentials(this.opts.tls);
    this.logger.warn('node registry without TLS: any caller can register as any node');
    return ServerCredentials.createInsecure();
  }

  /**
   * Checks the caller's certificate (when TLS is on): the node it names, or
   * the refusal to answer with (logged and counted). `nodeId` is the node the
   * call speaks for, when known: it must be the certificate's.
   */
  checkCaller(auth: AuthContext | null, peer: string, nodeId?: string): CallerCheck {
    if (!this.opts.tls) return nodeId === undefined ? {} : { node: nodeId };
    const check = checkCaller(auth, nodeId);
    if (check.refusal) {
      const { reason, code, details } = check.refusal;
      this.logger.warn({ peer, reason, code: Status[code], details, node: nodeId }, 'node registry refused a caller');
      this.opts.onRefused?.(reason);
    }
    return check;
  }

  get port(): number {
    return this.boundPort;
  }

  /**
   * Whether the server completes a gRPC (HTTP/2) handshake on its own
   * address within `timeoutMs`, as an agent would: readiness asks this, not
   * merely whether `listen` once succeeded.
   */
  answers(timeoutMs: number): Promise<boolean> {
    if (!this.server) return Promise.resolve(false);
    const host = this.boundHost === '0.0.0.0' ? '127.0.0.1' : this.boundHost === '::' ? '::1' : this.boundHost;
    // Over TLS the handshake is made with the server's own material (it names the scheduler, from the cluster CA).
    const channel = this.opts.tls ? registryChannelCredentials(this.opts.tls.current) : credentials.createInsecure();
    const client = new Client(`${host.includes(':') ? `[${host}]` : host}:${this.boundPort}`, channel);
    return new Promise<boolean>((resolve) =>
      client.waitForReady(Date.now() + timeoutMs, (error) => {
        client.close();
        resolve(!error);
      }),
    );
  }

  /** Nodes with a live report stream on this replica. */
  get connectedNodes(): string[] {
    return [...this.byNode.keys()].sort();
  }

  /** Ends every stream (agents reconnect to whoever serves next), then stops; forced after `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const stream of [...this.streams]) stream.fail(Status.UNAVAILABLE, 'scheduler is shutting down', true);
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.logger.info('node registry stopped');
  }

  bind(stream: ReportStream): void {
    const id = stream.nodeId!;
    const previous = this.byNode.get(id);
    this.byNode.set(id, stream);
    if (previous && previous !== stream) previous.fail(Status.FAILED_PRECONDITION, 'replaced by a newer stream of this node');
  }

  unbind(stream: ReportStream): void {
    this.streams.delete(stream);
    if (stream.nodeId !== undefined && this.byNode.get(stream.nodeId) === stream) this.byNode.delete(stream.nodeId);
  }

  private onConnect(call: ServerDuplexStream<unknown, unknown>): void {
    const caller = this.checkCaller(call.getAuthContext(), call.getPeer());
    if (caller.refusal) {
      call.emit('error', { code: caller.refusal.code, details: caller.refusal.details });
      return;
    }
    try {
      this.streams.add(new ReportStream(call, this));
    } catch (error) {
      call.emit('error', { code: Status.INTERNAL, details: messageOf(error) });
    }
  }

  private onRegister(call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void {
    this.register(call.request, (nodeId) => this.checkCaller(call.getAuthContext(), call.getPeer(), nodeId)).then(
      (response) => callback(null, response),
      (error: unknown) => {
        const failure = isFailure(error) ? error : refuse(Status.INTERNAL, `registration failed: ${String(error)}`);
        if (failure.code === Status.UNAUTHENTICATED || failure.code === Status.PERMISSION_DENIED) return callback(failure, null);
        this.logger.warn({ code: Status[failure.code], details: failure.details }, 'node registration refused');
        callback(failure, null);
      },
    );
  }

  private onDeregister(call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void {
    this.deregister(call.request, (nodeId) => this.checkCaller(call.getAuthContext(), call.getPeer(), nodeId)).then(
      () => callback(null, {}),
      (error: unknown) => {
        const failure = isFailure(error) ? error : refuse(Status.INTERNAL, `deregistration failed: ${String(error)}`);
        if (failure.code === Status.UNAUTHENTICATED || failure.code === Status.PERMISSION_DENIED) return callback(failure, null);
        this.logger.warn({ code: Status[failure.code], details: failure.details }, 'node deregistration refused');
        callback(failure, null);
      },
    );
  }

  /** A leaving agent's last call: the node goes from the registry (never declared lost), its stream ends. */
  private async deregister(raw: unknown, authorize: (nodeId?: string) => CallerCheck): Promise<void> {
    const caller = authorize();
    if (caller.refusal) throw refuse(caller.refusal.code, caller.refusal.details);
    if (raw instanceof UndecodableMessage) throw refuse(Status.INVALID_ARGUMENT, `malformed deregistration: ${raw.reason}`);
    const parsed = deregisterRequestSchema.safeParse(raw);
    if (!parsed.success) throw refuse(Status.INVALID_ARGUMENT, `invalid deregistration: ${describeIssues(parsed.error)}`);
    const { nodeId, sessionId } = parsed.data;
    // Only the node's own certificate may take it out of the registry.
    const speaksFor = caller.node === undefined ? { node: nodeId } : authorize(nodeId);
    if (speaksFor.refusal) throw refuse(speaksFor.refusal.code, speaksFor.refusal.details);
    let outcome;
    try {
      outcome = await this.store.deregister(nodeId, sessionId);
    } catch (error) {
      throw refuse(Status.UNAVAILABLE, `registry store unavailable: ${messageOf(error)}`);
    }
    if (outcome === 'unknown-node') throw refuse(Status.NOT_FOUND, `node ${nodeId} is not registered`);
    if (outcome === 'stale-session' || outcome === 'node-lost') {
      throw refuse(Status.FAILED_PRECONDITION, `session ${sessionId} no longer holds node ${nodeId} (${outcome})`);
    }
    if (outcome === 'pods-remain') throw refuse(Status.FAILED_PRECONDITION, `node ${nodeId} still holds pod reservations`);
    this.byNode.get(nodeId)?.fail(Status.CANCELLED, 'node deregistered', true);
    this.logger.info({ node: nodeId }, 'node deregistered');
  }

  private async register(raw: unknown, authorize: (nodeId?: string) => CallerCheck): Promise<RegisterResponse> {
    // Credentials first: a caller without them learns nothing about what a valid registration looks like.
    const caller = authorize();
    if (caller.refusal) throw refuse(caller.refusal.code, caller.refusal.details);
    if (raw instanceof UndecodableMessage) throw refuse(Status.INVALID_ARGUMENT, `malformed registration: ${raw.reason}`);
    const parsed = registerRequestSchema.safeParse(raw);
    if (!parsed.success) throw refuse(Status.INVALID_ARGUMENT, `invalid registration: ${describeIssues(parsed.error)}`);
    const request = parsed.data;
    const speaksFor = caller.node === undefined ? { node: request.nodeId } : authorize(request.nodeId);
    if (speaksFor.refusal) throw refuse(speaksFor.refusal.code, speaksFor.refusal.details);
    const sessionId = randomUUID();
    try {
      await this.store.register(toRegisteredNode(request), sessionId);
    } catch (error) {
      throw refuse(Status.UNAVAILABLE, `registry store unavailable: ${messageOf(error)}`);
    }
    // A registration starts a new session: the stream of the old one (if it is here) is over.
    this.byNode.get(request.nodeId)?.fail(Status.FAILED_PRECONDITION, 'session replaced by a newer registration of this node');
    this.logger.info({ node: request.nodeId, capacity: request.capacity, criuOk: request.capabilities.criuOk }, 'node registered');
    return { sessionId, heartbeatIntervalMs: this.opts.heartbeatIntervalMs };
  }
}

function refuse(code: Status, details: string): RegisterFailure {
  return { code, details };
}

function isFailure(error: unknown): error is RegisterFailure {
  return typeof error === 'object' && error !== null && 'code' in error && 'details' in error;
}

/** The registration as the store keeps it: capabilities flattened to strings and booleans. */
export function toRegisteredNode(r: RegisterRequest): RegisteredNode {
  const c = r.capabilities;
  return {
    id: r.nodeId,
    labels: r.labels,
    capacity: { cpu: r.capacity.cpu, memoryMiB: r.capacity.memoryMib, gpu: r.capacity.gpu },
    agentUrl: r.agentUrl,
    capabilities: {
      runtime: c.runtime,
      runcVersion: c.runcVersion,
      criuVersion: c.criuVersion,
      criuOk: c.criuOk,
      criuReason: c.criuReason,
      criuMode: c.criuMode ?? '',
      criuNetworkLock: c.criuNetworkLock ?? '',
      kernel: c.kernel,
      arch: c.arch,
      cpuFlags: c.cpuFlags.join(' '),
    },
    gpus: r.gpus.map((g) => ({ model: g.model, count: g.count })),
  };
}
