import { Client, credentials, Metadata, status as Status, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { messageOf, settledWithin, type ClusterTls, type Logger, type TlsMaterial } from '@warmpod/observability';
import type { InventoryPart, InventoryParts } from './inventory-diff';
import {
  describeIssues,
  registerResponseSchema,
  schedulerInstructionSchema,
  type RegisterRequest,
  type RegisterResponse,
} from './messages';
import { NodeSession } from './node-session';
import { connectMethod, deregisterMethod, registerMethod, UndecodableMessage } from './proto';
import { backoffDelay, DEFAULT_BACKOFF, nextAttempt, type ReconnectBackoff } from './reconnect-backoff';
import { registryChannelCredentials } from './registry-tls';

export interface NodeRegistryClientOptions {
  /** The scheduler's registry, `host:port` (a `grpc://` prefix is accepted). */
  target: string;
  registration: RegisterRequest;
  /** Collects the inventory's parts asked for: all of them on every connect, those that changed for a change report. */
  inventory: (parts: ReadonlySet<InventoryPart>) => Promise<InventoryParts>;
  /** The scheduler does not expect these pods here: stop and clean them. */
  onStopPods: (podIds: string[], reason: string) => Promise<void>;
  logger: Logger;
  /** Change reports are sent at most this often. */
  coalesceMs?: number;
  /** Reconnection delays: doubled per failed attempt, capped, with jitter. */
  backoff?: ReconnectBackoff;
  registerTimeoutMs?: number;
  /**
   * This node's cluster TLS material (its certificate names the node; the
   * scheduler must present `service:scheduler`). A rotation reconnects with
   * the new certificate. Without it the channel is plaintext (tests only).
   */
  tls?: ClusterTls;
}

/**
 * The agent's side of the node registry: registers, then runs one
 * `NodeSession` (full inventory, change reports, heartbeats) until its stream
 * ends. When the scheduler is away it registers again (a new session) with
 * capped exponential backoff; it never throws.
 */
export class NodeRegistryClient {
  private grpc: Client;
  private readonly backoff: ReconnectBackoff;
  private stopped = false;
  private loop?: Promise<void>;
  private pendingRegister?: ClientUnaryCall;
  private session?: NodeSession;
  private wake?: () => void;
  private markStarted!: () => void;
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));
  private unfollowTls?: () => void;

  constructor(private readonly opts: NodeRegistryClientOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.grpc = this.channel(opts.tls?.current);
    this.unfollowTls = opts.tls?.onChange((material) => this.rotate(material));
  }

  private channel(material: TlsMaterial | undefined): Client {
    return new Client(
      this.opts.target.replace(/^grpc:\/\//, ''),
      material ? registryChannelCredentials(material) : credentials.createInsecure(),
      {
        // The channel's own reconnect backoff must not outlast ours.
        'grpc.initial_reconnect_backoff_ms': Math.min(this.backoff.initialMs, 1_000),
        'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
        // The scheduler is checked by its certificate's identity, not a host name; an IP is no TLS server name.
        ...(material && { 'grpc.ssl_target_name_override': 'scheduler' }),
      },
    );
  }

  /**
   * New TLS material: a connection keeps the certificate it was opened with,
   * so the session is ended and the node registers again over a new channel
   * (the scheduler sees the new certificate; the node stays registered).
   */
  private rotate(material: TlsMaterial): void {
    if (this.stopped) return;
    this.opts.logger.info(
      { fingerprint: material.fingerprint, validTo: material.validTo },
      'reconnecting to the scheduler with the rotated certificate',
    );
    const old = this.grpc;
    this.grpc = this.channel(material);
    this.pendingRegister?.cancel();
    this.session?.cancel();
    old.close();
    this.wake?.();
  }

  /** Starts the session loop; resolves once the scheduler accepted a first inventory (or `stop()` was called). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.started;
  }

  /** The current session, while connected. */
  get sessionId(): string | undefined {
    return this.session?.sessionId;
  }

  /** Something on the node changed (`part`, e.g. an image pulled; anything, e.g. a pod started or ended): report it soon. */
  reportChange(part?: InventoryPart): void {
    // Without a session there is nothing to do: the next session starts with a full inventory.
    this.session?.reporter.changed(part);
  }

  /** Sends what is still unreported, ends the stream cleanly (half-close, the scheduler answers OK) and stops reconnecting. */
  async stop(): Promise<void> {
    await this.halt();
    this.grpc.close();
    this.markStarted();
  }

  /**
   * Leaves the cluster: waits (up to `timeoutMs`) for a session, stops
   * reporting and reconnecting, then deregisters the node within that last
   * session, so the scheduler removes it instead of declaring it lost.
   * Throws when the scheduler refuses (pods still reserved there) or cannot
   * be reached in time; the client is stopped either way.
   */
  async leave(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.sessionId && !this.stopped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const sessionId = this.sessionId;
    await this.halt();
    try {
      if (!sessionId) throw new Error('deregister: no session with the scheduler');
      await this.callDeregister(sessionId, deadline);
    } finally {
      this.grpc.close();
      this.markStarted();
    }
  }

  /** Retries while the scheduler is unavailable (a replica restarting); any other refusal is final. */
  private async callDeregister(sessionId: string, deadline: number): Promise<void> {
    const method = deregisterMethod();
    const request = { nodeId: this.opts.registration.nodeId, sessionId };
    for (;;) {
      const error = await new Promise<ServiceError | null>((resolve) =>
        this.grpc.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          new Metadata(),
          { deadline: Math.min(deadline, Date.now() + (this.opts.registerTimeoutMs ?? 5_000)) },
          (e) => resolve(e),
        ),
      );
      if (!error) return;
      const retry = (error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED) && Date.now() < deadline;
      if (!retry) throw new Error(`deregister: ${error.details || error.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Ends the session and the reconnect loop; the channel stays open. */
  private async halt(): Promise<void> {
    this.stopped = true;
    this.unfollowTls?.();
    this.wake?.();
    this.pendingRegister?.cancel();
    const reporting = this.session?.reporter;
    reporting?.stop();
    if (reporting) await settledWithin(reporting.lastReport(), 1_000);
    const session = this.session;
    if (session) {
      session.stopTimers();
      session.end();
      await settledWithin(this.loop ?? Promise.resolve(), 1_000);
      if (this.session === session) session.cancel();
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let accepted = false;
      try {
        accepted = await this.runSession();
      } catch (error) {
        if (!this.stopped) this.opts.logger.warn({ err: messageOf(error) }, 'node registry unavailable');
      }
      if (this.stopped) break;
      attempt = nextAttempt(attempt, accepted);
      await this.sleep(backoffDelay(attempt, this.backoff));
    }
  }

  /** One session: register, stream until it ends. True when the scheduler accepted the inventory. */
  private async runSession(): Promise<boolean> {
    const registered = await this.register();
    if (this.stopped) return false;
    const method = connectMethod();
    const call = this.grpc.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    const session = new NodeSession(call, registered, {
      nodeId: this.opts.registration.nodeId,
      inventory: this.opts.inventory,
      coalesceMs: this.opts.coalesceMs ?? 100,
      logger: this.opts.logger,
      onAnswer: (raw) => {
        this.markStarted();
        void this.onInstruction(raw);
      },
    });
    this.session = session;
    this.opts.logger.info(
      { session: registered.sessionId, heartbeatIntervalMs: registered.heartbeatIntervalMs },
      'registered with the scheduler',
    );
    const status = await session.run();
    this.session = undefined;
    if (!this.stopped) this.opts.logger.warn({ code: status.code, details: status.details }, 'node registry stream ended');
    return session.accepted;
  }

  private register(): Promise<RegisterResponse> {
    const method = registerMethod();
    return new Promise((resolve, reject) => {
      try {
        this.pendingRegister = this.grpc.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          this.opts.registration,
          new Metadata(),
          { deadline: Date.now() + (this.opts.registerTimeoutMs ?? 5_000) },
          (error, response) => {
            this.pendingRegister = undefined;
            if (error) return reject(new Error(`register: ${error.details || error.message}`));
            const parsed = registerResponseSchema.safeParse(response);
            if (!parsed.success) return reject(new Error(`register: invalid answer: ${describeIssues(parsed.error)}`));
            resolve(parsed.data);
          },
        );
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private async onInstruction(raw: unknown): Promise<void> {
    if (raw instanceof UndecodableMessage) {
      this.opts.logger.warn({ err: raw.reason }, 'ignoring an undecodable instruction');
      return;
    }
    const parsed = schedulerInstructionSchema.safeParse(raw);
    if (!parsed.success) {
      this.opts.logger.warn({ err: describeIssues(parsed.error) }, 'ignoring an invalid instruction');
      return;
    }
    if (parsed.data.body !== 'stopPods') return;
    const { podIds, reason } = parsed.data.stopPods;
    this.opts.logger.warn({ pods: podIds, reason }, 'scheduler asked to stop pods');
    try {
      await this.opts.onStopPods(podIds, reason);
    } catch (error) {
      this.opts.logger.error({ pods: podIds, err: messageOf(error) }, 'stopping pods failed');
    }
    this.reportChange();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
