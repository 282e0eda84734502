import { Client, credentials, Metadata, type ClientDuplexStream, type ClientUnaryCall, type StatusObject } from '@grpc/grpc-js';
import type { Resources } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import {
  describeIssues,
  registerResponseSchema,
  schedulerInstructionSchema,
  type CachedImageMessage,
  type CheckpointMessage,
  type InventoryDeltaMessage,
  type InventoryMessage,
  type NodeReportOut,
  type RegisterRequest,
  type RegisterResponse,
} from './messages';
import { connectMethod, registerMethod, UndecodableMessage } from './proto';

/** What the node holds and runs right now, as the agent sees it. */
export interface AgentInventory {
  images: CachedImageMessage[];
  runningPods: string[];
  checkpoints: CheckpointMessage[];
  usage: Resources;
}

export interface NodeRegistryClientOptions {
  /** The scheduler's registry, `host:port` (a `grpc://` prefix is accepted). */
  target: string;
  registration: RegisterRequest;
  /** Collects the full inventory; called on every connect and for every change report. */
  inventory: () => Promise<AgentInventory>;
  /** The scheduler does not expect these pods here: stop and clean them. */
  onStopPods: (podIds: string[], reason: string) => Promise<void>;
  logger: Logger;
  /** Change reports are sent at most this often. */
  coalesceMs?: number;
  /** Reconnection delays: doubled per failed attempt, capped, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  registerTimeoutMs?: number;
}

/** What was last reported, to compute the next change report from. */
export interface SentState {
  images: Map<string, string>;
  runningPods: string;
  checkpoints: string;
  usage: string;
}

/**
 * The agent's side of the node registry: registers, opens the report stream
 * (full inventory first), then sends a change report when told something
 * changed and a heartbeat otherwise. When the scheduler is away it registers
 * again (a new session) with capped exponential backoff; it never throws.
 */
export class NodeRegistryClient {
  private readonly grpc: Client;
  private readonly coalesceMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private stopped = false;
  private loop?: Promise<void>;
  private call?: ClientDuplexStream<unknown, unknown>;
  private pendingRegister?: ClientUnaryCall;
  private session?: RegisterResponse;
  private sent?: SentState;
  private dirty = false;
  private flushing?: Promise<void>;
  private flushTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private lastFlushAt = 0;
  private lastSentAt = 0;
  private lastHeardAt = 0;
  private wake?: () => void;
  private markStarted!: () => void;
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  constructor(private readonly opts: NodeRegistryClientOptions) {
    this.coalesceMs = opts.coalesceMs ?? 100;
    this.backoff = opts.backoff ?? { initialMs: 250, maxMs: 10_000 };
    this.grpc = new Client(opts.target.replace(/^grpc:\/\//, ''), credentials.createInsecure(), {
      // The channel's own reconnect backoff must not outlast ours.
      'grpc.initial_reconnect_backoff_ms': Math.min(this.backoff.initialMs, 1_000),
      'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
    });
  }

  /** Starts the session loop; resolves once the scheduler accepted a first inventory (or `stop()` was called). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.started;
  }

  /** The current session, while connected. */
  get sessionId(): string | undefined {
    return this.call ? this.session?.sessionId : undefined;
  }

  /** Something on the node changed (image pulled, pod started or ended): report it soon. */
  reportChange(): void {
    this.dirty = true;
    this.scheduleFlush();
  }

  /** Sends what is still unreported, ends the stream cleanly (half-close, the scheduler answers OK) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.pendingRegister?.cancel();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await Promise.race([this.lastReport(), delay(1_000)]);
    this.clearTimers();
    const call = this.call;
    if (call) {
      call.end();
      await Promise.race([this.loop, delay(1_000)]);
      if (this.call === call) call.cancel();
    }
    await this.loop;
    this.grpc.close();
    this.markStarted();
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
      attempt = accepted ? 0 : attempt + 1;
      await this.sleep(backoffDelay(attempt, this.backoff));
    }
  }

  /** One session: register, stream until it ends. True when the scheduler accepted the inventory. */
  private async runSession(): Promise<boolean> {
    const session = await this.register();
    if (this.stopped) return false;
    const method = connectMethod();
    const call = this.grpc.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    let accepted = false;
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined); // the status carries it; an unhandled 'error' would crash the agent
    call.on('data', (raw: unknown) => {
      accepted = true;
      this.lastHeardAt = Date.now();
      this.markStarted();
      void this.onInstruction(raw);
    });
    this.call = call;
    this.session = session;
    this.sent = undefined;
    this.lastHeardAt = Date.now();
    this.opts.logger.info(
      { session: session.sessionId, heartbeatIntervalMs: session.heartbeatIntervalMs },
      'registered with the scheduler',
    );

    this.sendInventory(call).catch((error: unknown) => {
      this.opts.logger.warn({ err: messageOf(error) }, 'could not collect the inventory');
      call.cancel();
    });
    this.heartbeatTimer = setInterval(() => this.tick(call, session.heartbeatIntervalMs), session.heartbeatIntervalMs);
    const status = await ended;
    this.clearTimers();
    this.call = undefined;
    this.sent = undefined;
    if (!this.stopped) this.opts.logger.warn({ code: status.code, details: status.details }, 'node registry stream ended');
    return accepted;
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

  private async sendInventory(call: ClientDuplexStream<unknown, unknown>): Promise<void> {
    this.dirty = false;
    const inventory = await this.opts.inventory();
    if (call !== this.call) return;
    this.write(call, { inventory: inventoryMessage(inventory) });
    this.sent = snapshot(inventory);
    if (this.dirty) this.scheduleFlush();
  }

  /** A change report still pending (e.g. pods stopped on shutdown) goes out before the stream ends. */
  private async lastReport(): Promise<void> {
    await this.flushing;
    if (this.dirty && this.call && this.sent) await this.flush();
  }

  private scheduleFlush(): void {
    if (!this.call || !this.sent || this.flushTimer || this.flushing || this.stopped) return;
    const wait = Math.max(0, this.lastFlushAt + this.coalesceMs - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, wait);
  }

  private flush(): Promise<void> {
    const flushing = this.collectAndReport().finally(() => {
      if (this.flushing === flushing) this.flushing = undefined;
    });
    this.flushing = flushing;
    return flushing;
  }

  private async collectAndReport(): Promise<void> {
    const call = this.call;
    const sent = this.sent;
    if (!call || !sent) return;
    this.dirty = false;
    let retryLater = false;
    try {
      const now = await this.opts.inventory();
      if (call !== this.call) return;
      const delta = changes(sent, now);
      if (delta) {
        this.write(call, { delta });
        this.sent = snapshot(now);
      }
    } catch (error) {
      this.opts.logger.warn({ err: messageOf(error) }, 'could not collect the inventory; will report at the next heartbeat');
      retryLater = true;
    } finally {
      this.lastFlushAt = Date.now();
    }
    if (retryLater) this.dirty = true;
    else if (this.dirty) setImmediate(() => this.scheduleFlush());
  }

  private tick(call: ClientDuplexStream<unknown, unknown>, intervalMs: number): void {
    if (call !== this.call) return;
    const now = Date.now();
    if (now - this.lastHeardAt > 3 * intervalMs + 2_000) {
      this.opts.logger.warn({ silentMs: now - this.lastHeardAt }, 'scheduler stopped answering; reconnecting');
      call.cancel();
      return;
    }
    if (this.dirty) this.scheduleFlush();
    if (this.sent && now - this.lastSentAt >= intervalMs / 2) this.write(call, { heartbeat: { sentAtMs: now } });
  }

  private write(call: ClientDuplexStream<unknown, unknown>, body: DistributiveOmit<NodeReportOut, 'nodeId' | 'sessionId'>): void {
    if (!this.session) return;
    call.write({ nodeId: this.opts.registration.nodeId, sessionId: this.session.sessionId, ...body });
    this.lastSentAt = Date.now();
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

  private clearTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.flushTimer);
    this.heartbeatTimer = undefined;
    this.flushTimer = undefined;
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

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Delay before reconnect attempt `attempt` (0 after a session that worked): doubling, capped, +-20 % jitter. */
export function backoffDelay(attempt: number, backoff: { initialMs: number; maxMs: number }): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function inventoryMessage(inventory: AgentInventory): InventoryMessage {
  return {
    images: inventory.images,
    runningPods: inventory.runningPods,
    checkpoints: inventory.checkpoints,
    usage: usageMessage(inventory.usage),
  };
}

function usageMessage(usage: Resources): InventoryMessage['usage'] {
  return { cpu: usage.cpu, memoryMib: usage.memoryMiB, gpu: usage.gpu };
}

export function snapshot(inventory: AgentInventory): SentState {
  return {
    images: new Map(inventory.images.map((i) => [i.digest, JSON.stringify(i)])),
    runningPods: JSON.stringify([...inventory.runningPods].sort()),
    checkpoints: JSON.stringify(inventory.checkpoints),
    usage: JSON.stringify(inventory.usage),
  };
}

/** The change report from what was last sent to `now`, or undefined when nothing changed. */
export function changes(sent: SentState, now: AgentInventory): InventoryDeltaMessage | undefined {
  const next = snapshot(now);
  const addedImages = now.images.filter((i) => sent.images.get(i.digest) !== next.images.get(i.digest));
  const removedImages = [...sent.images.keys()].filter((d) => !next.images.has(d));
  const same =
    addedImages.length === 0 &&
    removedImages.length === 0 &&
    sent.runningPods === next.runningPods &&
    sent.checkpoints === next.checkpoints &&
    sent.usage === next.usage;
  if (same) return undefined;
  return { addedImages, removedImages, runningPods: now.runningPods, checkpoints: now.checkpoints, usage: usageMessage(now.usage) };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
