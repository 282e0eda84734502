import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { messageOf, type Logger } from '@warmpod/observability';
import type { InventoryPart, InventoryParts } from './inventory-diff';
import { InventoryReporter } from './inventory-reporter';
import type { NodeReportBody, RegisterResponse } from './messages';
import { SessionHeartbeat } from './session-heartbeat';

export interface NodeSessionOptions {
  nodeId: string;
  inventory: (parts: ReadonlySet<InventoryPart>) => Promise<InventoryParts>;
  coalesceMs: number;
  logger: Logger;
  /** The scheduler answered on this stream (its first answer means the inventory was accepted). */
  onAnswer: (raw: unknown) => void;
}

/**
 * One registered session on its Connect stream: the inventory reporter and
 * the heartbeat share the stream, and both stop when it ends.
 */
export class NodeSession {
  readonly reporter: InventoryReporter;
  private readonly heartbeat: SessionHeartbeat;
  private timer?: NodeJS.Timeout;
  private open = true;
  private answered = false;
  private readonly ended: Promise<StatusObject>;

  constructor(
    private readonly call: ClientDuplexStream<unknown, unknown>,
    readonly registered: RegisterResponse,
    private readonly opts: NodeSessionOptions,
  ) {
    this.heartbeat = new SessionHeartbeat(registered.heartbeatIntervalMs);
    this.reporter = new InventoryReporter({
      collect: opts.inventory,
      send: (body) => this.send(body),
      isOpen: () => this.open,
      coalesceMs: opts.coalesceMs,
      logger: opts.logger,
    });
    this.ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined); // the status carries it; an unhandled 'error' would crash the agent
    call.on('data', (raw: unknown) => {
      this.answered = true;
      this.heartbeat.heard();
      opts.onAnswer(raw);
    });
  }

  get sessionId(): string {
    return this.registered.sessionId;
  }

  /** Whether the scheduler accepted this session's inventory (it answered at least once). */
  get accepted(): boolean {
    return this.answered;
  }

  /** Sends the inventory, heartbeats until the stream ends, and resolves with its final status. */
  async run(): Promise<StatusObject> {
    this.reporter.sendInventory().catch((error: unknown) => {
      this.opts.logger.warn({ err: messageOf(error) }, 'could not collect the inventory');
      this.call.cancel();
    });
    const intervalMs = this.registered.heartbeatIntervalMs;
    this.timer = setInterval(() => this.tick(), intervalMs);
    const status = await this.ended;
    this.open = false;
    this.stopTimers();
    return status;
  }

  /** Stops the heartbeat and any scheduled change report. */
  stopTimers(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.reporter.stop();
  }

  /** Half-closes the stream: the scheduler answers OK and the session ends cleanly. */
  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }

  private tick(): void {
    if (!this.open) return;
    const due = this.heartbeat.due(Date.now(), this.reporter.inventorySent);
    if (due.kind === 'reconnect') {
      this.opts.logger.warn({ silentMs: due.silentMs }, 'scheduler stopped answering; reconnecting');
      this.call.cancel();
      return;
    }
    this.reporter.retryPending();
    if (due.kind === 'beat') this.send({ heartbeat: { sentAtMs: Date.now() } });
  }

  private send(body: NodeReportBody): void {
    this.call.write({ nodeId: this.opts.nodeId, sessionId: this.registered.sessionId, ...body });
    this.heartbeat.wrote();
  }
}
