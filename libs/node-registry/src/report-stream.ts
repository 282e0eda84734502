import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import { isTerminal, type PodPhase, type Resources } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import { describeIssues, nodeReportSchema, type CachedImageMessage, type NodeReport, type SchedulerInstructionOut } from './messages';
import type { NodeRegistryStore, PodPlacementLookup, RegistryImage, RegistryWrite } from './ports';
import { UndecodableMessage } from './proto';
import type { AuthContext, CallerCheck } from './registry-tls';

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  store: NodeRegistryStore;
  pods: PodPlacementLookup;
  logger: Logger;
  /** The stream's first inventory was applied: it is now the node's stream (any other one is ended). */
  bind(stream: ReportStream): void;
  /** The stream ended, for whatever reason. */
  unbind(stream: ReportStream): void;
  /** Whether the caller's certificate may speak for `nodeId` (refusals logged and counted). */
  checkCaller(auth: AuthContext | null, peer: string, nodeId?: string): CallerCheck;
}

/** Reports are taken one at a time; the client is paused while this many wait. */
const QUEUE_HIGH_WATER = 16;
/** Pod records read at once while reconciling. */
const LOOKUP_BATCH = 64;

/**
 * One agent's Connect stream on the scheduler side: validates every report,
 * applies it within the node's session, answers ack or reconcile
 * instructions, and ends the stream with a status that says what was wrong.
 */
export class ReportStream {
  nodeId?: string;
  sessionId?: string;
  private inventoried = false;
  private ended = false;
  private halfClosed = false;
  private busy = false;
  private readonly queue: unknown[] = [];

  constructor(
    private readonly call: ServerDuplexStream<unknown, unknown>,
    private readonly host: StreamHost,
  ) {
    call.on('data', (message: unknown) => this.enqueue(message));
    call.on('end', () => {
      this.halfClosed = true;
      if (!this.busy) this.end();
    });
    call.on('cancelled', () => this.closed());
    call.on('error', () => this.closed());
    call.on('close', () => this.closed());
  }

  /** Ends the stream with a status other than OK (no-op once ended); `expected` ends (shutdown) are not warnings. */
  fail(code: Status, details: string, expected = false): void {
    if (this.ended) return;
    this.host.logger[expected ? 'info' : 'warn'](
      { node: this.nodeId, code: Status[code], details },
      'node report stream ended by the scheduler',
    );
    this.closed();
    // grpc-js turns an 'error' event on a server stream into the call's final status.
    this.call.emit('error', { code, details });
  }

  /** Ends the stream with OK (the agent said goodbye, or the scheduler is stopping). */
  end(): void {
    if (this.ended) return;
    this.closed();
    if (!this.call.cancelled) this.call.end();
  }

  private closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    this.host.unbind(this);
  }

  private enqueue(message: unknown): void {
    if (this.ended) return;
    this.queue.push(message);
    if (this.queue.length >= QUEUE_HIGH_WATER) this.call.pause();
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (let next = this.queue.shift(); next !== undefined && !this.ended; next = this.queue.shift()) {
        await this.handle(next).catch((error: unknown) => this.fail(Status.INTERNAL, `report failed: ${messageOf(error)}`));
        if (this.queue.length < QUEUE_HIGH_WATER / 2) this.call.resume();
      }
    } finally {
      this.busy = false;
    }
    if (this.halfClosed) this.end();
  }

  private async handle(raw: unknown): Promise<void> {
    if (raw instanceof UndecodableMessage) return this.fail(Status.INVALID_ARGUMENT, `malformed report: ${raw.reason}`);
    const parsed = nodeReportSchema.safeParse(raw);
    if (!parsed.success) return this.fail(Status.INVALID_ARGUMENT, `invalid report: ${describeIssues(parsed.error)}`);
    const report = parsed.data;
    if (this.nodeId !== undefined && (report.nodeId !== this.nodeId || report.sessionId !== this.sessionId)) {
      return this.fail(
        Status.INVALID_ARGUMENT,
        `this stream carries node ${this.nodeId} in session ${this.sessionId}; another node or session needs its own stream`,
      );
    }
    if (!this.inventoried) {
      // A stream speaks for one node (checked below for every later report): the one its certificate names.
      const refusal = this.host.checkCaller(this.call.getAuthContext(), this.call.getPeer(), report.nodeId).refusal;
      if (refusal) return this.fail(refusal.code, refusal.details);
    }
    if (!this.inventoried && report.body !== 'inventory') {
      return this.fail(Status.FAILED_PRECONDITION, `the first report of a stream must be a full inventory, not a ${report.body}`);
    }

    let outcome: RegistryWrite;
    try {
      outcome = await this.apply(report);
    } catch (error) {
      return this.fail(Status.UNAVAILABLE, `registry store unavailable: ${messageOf(error)}`);
    }
    if (outcome !== 'applied') return this.fail(...refusal(outcome, report));
    if (this.ended) return;
    if (!this.inventoried) {
      this.inventoried = true;
      this.nodeId = report.nodeId;
      this.sessionId = report.sessionId;
      this.host.bind(this);
      this.host.logger.info({ node: report.nodeId }, 'node connected');
    }
    if (report.body === 'inventory') await this.reconcile(report.nodeId, report.inventory.runningPods);
    else this.send({ ack: { receivedAtMs: Date.now() } });
  }

  private apply(report: NodeReport): Promise<RegistryWrite> {
    const { store } = this.host;
    switch (report.body) {
      case 'inventory': {
        const { images, runningPods, checkpoints, usage } = report.inventory;
        return store.applyInventory(report.nodeId, report.sessionId, {
          images: images.map(toImage),
          runningPods,
          checkpoints,
          ...usageOf(usage),
        });
      }
      case 'delta': {
        const { addedImages, removedImages, runningPods, checkpoints, usage } = report.delta;
        return store.applyDelta(report.nodeId, report.sessionId, {
          addedImages: addedImages.map(toImage),
          removedImages,
          runningPods,
          checkpoints,
          ...usageOf(usage),
        });
      }
      case 'heartbeat':
        return store.touch(report.nodeId, report.sessionId);
    }
  }

  /** After a full inventory: every running pod the scheduler does not expect here is sent back to be stopped. */
  private async reconcile(nodeId: string, running: string[]): Promise<void> {
    const unexpected = new Map<string, string[]>();
    try {
      for (let i = 0; i < running.length; i += LOOKUP_BATCH) {
        const batch = running.slice(i, i + LOOKUP_BATCH);
        const pods = await Promise.all(batch.map((id) => this.host.pods.get(id)));
        batch.forEach((id, j) => {
          const why = unexpectedReason(nodeId, pods[j]);
          if (why) unexpected.set(why, [...(unexpected.get(why) ?? []), id]);
        });
      }
    } catch (error) {
      // Never stop a pod on a guess: without the records, leave them running.
      this.host.logger.warn({ node: nodeId, err: messageOf(error) }, 'could not reconcile running pods');
      unexpected.clear();
    }
    if (unexpected.size === 0) {
      this.send({ ack: { receivedAtMs: Date.now() } });
      return;
    }
    for (const [reason, podIds] of unexpected) {
      this.host.logger.warn({ node: nodeId, pods: podIds, reason }, 'asking the node to stop pods it should not run');
      this.send({ stopPods: { podIds, reason } });
    }
  }

  private send(instruction: SchedulerInstructionOut): void {
    if (this.ended || this.call.cancelled) return;
    this.call.write(instruction);
  }
}

/** Why a pod running on `nodeId` is not expected there, or undefined when it is. */
export function unexpectedReason(nodeId: string, pod: { phase: PodPhase; node?: string } | undefined): string | undefined {
  const on = `not expected on ${nodeId}`;
  if (!pod) return `${on}: no pod record`;
  if (isTerminal(pod.phase)) return `${on}: pod is ${pod.phase}`;
  if (pod.phase === 'Pending') return `${on}: pod is Pending (not placed)`;
  if (pod.node !== nodeId) return `${on}: pod is placed on ${pod.node ?? 'no node'}`;
  return undefined;
}

function refusal(outcome: Exclude<RegistryWrite, 'applied'>, report: NodeReport): [Status, string] {
  switch (outcome) {
    case 'unknown-node':
      return [Status.NOT_FOUND, `node ${report.nodeId} is not registered`];
    case 'stale-session':
      return [
        Status.FAILED_PRECONDITION,
        `session ${report.sessionId} is not the current session of node ${report.nodeId}; register again`,
      ];
    case 'node-lost':
      return [Status.FAILED_PRECONDITION, `node ${report.nodeId} was declared lost; register again`];
  }
}

function toImage(image: CachedImageMessage): RegistryImage {
  return {
    digest: image.digest,
    sizeBytes: image.sizeBytes,
    layers: image.layers.map((l) => ({ digest: l.digest, sizeBytes: l.sizeBytes })),
  };
}

function usageOf(usage: { cpu: number; memoryMib: number; gpu: number } | null | undefined): { usage?: Resources } {
  return usage ? { usage: { cpu: usage.cpu, memoryMiB: usage.memoryMib, gpu: usage.gpu } } : {};
}
