import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { newId, type PodPhase } from '@warmpod/domain';
import { bullPrefix, JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { ImageRepository, Keys, PodRepository, type PodDefinition } from '@warmpod/store';
import type { SyntheticCluster } from './scheduler-cluster';
import type { SimulatedNodes } from './scheduler-replica-nodes';
import { sleep } from './scheduler-replica-processes';

const WRITE_BATCH = 1_000;
const TICK_MS = 25;
const COUNT_EVERY_MS = 100;
/** No new placement for this long, every pod tried at least once: the run is over. */
const QUIET_MS = 3_000;
/** How often a quiet run re-reads every open pod to see whether all were dealt with. */
const SWEEP_EVERY_MS = 1_000;
const SCHEDULE_JOB_PREFIX = 'schedule-pod-';

export interface DriveOutcome {
  podIds: string[];
  /** When the queue was resumed (every job enqueued by then). */
  resumedAt: number;
  endedAt: number;
  timedOut: boolean;
  /** Pods ended after their lifetime (Succeeded, reservation released). */
  ended: number;
}

/**
 * Feeds the pod sequence to the real schedulers and plays the part of the
 * pods' lifetimes, as the in-process phase does: pod i ends `lifetime` pods
 * after its own placement. The clock counts pods dealt with: placed, plus
 * those waiting for room (their schedule-pod job is delayed in BullMQ), as
 * the in-process phase counts unplaced pods. Placements are noticed from the
 * scheduling queue's `completed` events and confirmed on the pod record.
 */
export class PodDriver {
  private readonly pods: PodRepository;
  private readonly keys: Keys;
  private readonly queue: Queue;
  readonly podIds: string[];
  private readonly indexOf = new Map<string, number>();
  private readonly nodeIndex: Map<string, number>;
  private readonly placedOn: Array<string | undefined>;
  private readonly dueAt: number[][];
  private toConfirm: number[] = [];
  private placed = 0;
  private clock = 0;
  private releasedUpTo = 0;
  private inFlight = 0;
  private ended = 0;
  private lastPlacedAt = 0;
  private failure?: Error;

  constructor(
    private readonly cluster: SyntheticCluster,
    private readonly podCount: number,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodes: SimulatedNodes,
  ) {
    this.pods = new PodRepository(redis, prefix);
    this.keys = new Keys(prefix);
    this.queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
    this.podIds = Array.from({ length: podCount }, () => newId('pod'));
    this.podIds.forEach((id, i) => this.indexOf.set(id, i));
    this.nodeIndex = new Map(cluster.nodes.map((n, i) => [n.id, i]));
    this.placedOn = new Array<string | undefined>(podCount);
    this.dueAt = Array.from({ length: podCount + 1 }, () => []);
  }

  /**
   * What admission would have stored: every image's layers, every pod
   * Pending, and its schedule-pod job (through JobBus, as the gateway sends
   * it), into a paused queue so the run starts with all of them there.
   */
  async admit(): Promise<void> {
    const images = new ImageRepository(this.redis, this.prefix);
    await Promise.all(this.cluster.images.map((i) => images.record(i.digest, { sizeBytes: i.sizeBytes, layers: [...i.layers] })));
    await this.queue.pause();
    const bus = new JobBus(this.redis, this.prefix);
    try {
      for (let from = 0; from < this.podCount; from += WRITE_BATCH) {
        const batch = this.podIds.slice(from, from + WRITE_BATCH);
        await Promise.all(batch.map((id, k) => this.pods.create(this.definition(id, from + k))));
        await Promise.all(
          batch.map((podId, k) => bus.toScheduler({ name: 'schedule-pod', data: { podId, requestId: `bench-${from + k}` } })),
        );
      }
    } finally {
      await bus.close();
    }
  }

  /** Resumes the queue and runs until every pod was dealt with and placements stopped (or `deadlineMs`). */
  async run(deadlineMs: number, check: () => void): Promise<DriveOutcome> {
    // QueueEvents blocks on its connection, so it gets its own (and BullMQ leaves a given connection open).
    const eventsConnection = this.redis.duplicate();
    const events = new QueueEvents(SCHEDULING_QUEUE, { connection: eventsConnection, prefix: bullPrefix(this.prefix), lastEventId: '0' });
    events.on('completed', ({ jobId }) => {
      const i = jobId.startsWith(SCHEDULE_JOB_PREFIX) ? this.indexOf.get(jobId.slice(SCHEDULE_JOB_PREFIX.length)) : undefined;
      if (i !== undefined && this.placedOn[i] === undefined) this.toConfirm.push(i);
    });
    try {
      await events.waitUntilReady();
      const resumedAt = Date.now();
      this.lastPlacedAt = resumedAt;
      await this.queue.resume();
      let delayed = 0;
      let countedAt = 0;
      let timedOut = false;
      let sweptAt = 0;
      for (;;) {
        await sleep(TICK_MS);
        check();
        if (this.failure) throw this.failure;
        await this.confirm(this.toConfirm.splice(0));
        if (Date.now() - countedAt >= COUNT_EVERY_MS) {
          delayed = await this.queue.getDelayedCount();
          countedAt = Date.now();
        }
        this.advance(this.placed + delayed);
        if (Date.now() - resumedAt > deadlineMs) {
          timedOut = true;
          break;
        }
        if (Date.now() - this.lastPlacedAt >= QUIET_MS && this.inFlight === 0 && Date.now() - sweptAt >= SWEEP_EVERY_MS) {
          sweptAt = Date.now();
          if (await this.everyPodDealtWith()) break;
        }
      }
      while (this.inFlight > 0) await sleep(TICK_MS);
      return { podIds: this.podIds, resumedAt, endedAt: Date.now(), timedOut, ended: this.ended };
    } finally {
      await events.close();
      await eventsConnection.quit().catch(() => undefined);
      await this.queue.close();
    }
  }

  private definition(id: string, i: number): PodDefinition {
    const pod = this.cluster.pods[i]!;
    const digest = this.cluster.images[pod.image]!.digest;
    return {
      id,
      tenant: 'bench',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: `bench.invalid/image-${pod.image}:latest`, pinned: `bench.invalid/image-${pod.image}@${digest}`, digest },
      spec: { command: [], args: [], env: {}, ports: [], resources: pod.resources, nodeSelector: pod.nodeSelector, restartPolicy: 'Never' },
    };
  }

  /** Reads the records of pods whose job completed; the Scheduled ones are placed. */
  private async confirm(candidates: number[]): Promise<void> {
    if (candidates.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const i of candidates) pipeline.hmget(this.keys.podStatus(this.podIds[i]!), 'phase', 'node');
    const replies = (await pipeline.exec()) ?? [];
    candidates.forEach((i, k) => {
      const [phase, node] = (replies[k]?.[1] ?? []) as [string | null, string | null];
      if (phase === 'Scheduled' && node) this.onPlaced(i, node);
    });
  }

  private onPlaced(i: number, node: string): void {
    if (this.placedOn[i] !== undefined) return;
    this.placedOn[i] = node;
    this.placed++;
    this.lastPlacedAt = Date.now();
    this.clock = Math.max(this.clock, this.placed);
    const due = this.clock + this.cluster.pods[i]!.lifetime;
    if (due <= this.podCount) this.dueAt[due]!.push(i);
    const n = this.nodeIndex.get(node);
    if (n !== undefined) this.nodes.pulled(n, this.cluster.pods[i]!.image);
  }

  /** Moves the clock forward and ends the pods whose lifetime is over. */
  private advance(dealtWith: number): void {
    this.clock = Math.min(this.podCount, Math.max(this.clock, dealtWith));
    while (this.releasedUpTo < this.clock) {
      this.releasedUpTo++;
      for (const i of this.dueAt[this.releasedUpTo]!) this.end(i);
    }
  }

  /**
   * What a node's agent writes for a pod that ran and exited 0: Starting,
   * Running, then Succeeded, which releases the reservation in the same step
   * and announces the freed capacity (the backlog wakes waiting pods).
   */
  private end(i: number): void {
    const id = this.podIds[i]!;
    const node = this.placedOn[i]!;
    this.inFlight++;
    Promise.all([
      this.pods.transition(id, 'Starting', {}, undefined, ['Scheduled']),
      this.pods.transition(id, 'Running', {}),
      this.pods.transition(id, 'Succeeded', { exitCode: 0 }, node),
    ])
      .then(([, , done]) => {
        if (!done.applied) throw new Error(`could not end pod ${id} (was ${done.previous ?? 'missing'})`);
        this.ended++;
      })
      .catch((error: unknown) => (this.failure ??= error instanceof Error ? error : new Error(String(error))))
      .finally(() => this.inFlight--);
  }

  /** Every pod placed, or tried and waiting for room (its record says why), or given up on. */
  private async everyPodDealtWith(): Promise<boolean> {
    const open = this.podIds.map((_, i) => i).filter((i) => this.placedOn[i] === undefined);
    const pipeline = this.redis.pipeline();
    for (const i of open) pipeline.hmget(this.keys.podStatus(this.podIds[i]!), 'phase', 'node', 'message');
    const replies = (await pipeline.exec()) ?? [];
    let untried = 0;
    open.forEach((i, k) => {
      const [phase, node, message] = (replies[k]?.[1] ?? []) as [PodPhase | null, string | null, string | null];
      if (phase === 'Scheduled' && node) this.onPlaced(i, node);
      else if (phase === 'Pending' && !message) untried++;
    });
    return untried === 0 && Date.now() - this.lastPlacedAt >= QUIET_MS;
  }
}
