/**
 * Integration-test support: the real scheduler pieces (placement view,
 * schedule-pod handler, pool controllers) on real Redis, with simulated
 * agents (start-pod / stop-pod move the pod record through its phases and
 * report running pods like an agent does) and a simulated prepuller (a new
 * pin's digest appears in every node's inventory after a delay).
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isTerminal } from '@warmpod/domain';
import { bullPrefix, JobBus, JobRunner, nodeQueueName, SCHEDULING_QUEUE } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import { ImageRepository, Keys, NodeReservations, NodeSessions, PinRepository, PodRepository, PrepullHints } from '@warmpod/store';
import { Backlog } from '../../backlog';
import { PlacementView } from '../../placement-view';
import { SchedulePodHandler } from '../../schedule-pod.handler';
import { DEFAULT_POOL_CONTROLLER_OPTIONS, type PoolController } from '../pool-controller';
import { DEFAULT_POOL_TIMINGS, startPoolController } from '../start-pool-controller';

export interface SimStart {
  podId: string;
  digest: string;
  node: string;
  /** When the agent began starting it (after its stop-requested check). */
  at: number;
  /** The node held the digest when the start began. */
  hadDigest: boolean;
}

export interface SimOptions {
  nodes: string[];
  /** Digests every node holds from the start. */
  cached: string[];
  /** How long the simulated prepuller takes to put a newly pinned digest on the nodes. */
  prepullMs: number;
  /** Starting -> Running. */
  startMs: number;
  /** Pool controller replicas. */
  replicas: number;
}

const READY_WINDOW_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SimCluster {
  readonly starts: SimStart[] = [];
  readonly runningAt = new Map<string, number>();
  /** stop-pod jobs handled per pod. */
  readonly stopJobs = new Map<string, number>();
  /** digest -> when the simulated prepuller made it ready on every node. */
  readonly prepulledAt = new Map<string, number>();
  readonly pods: PodRepository;
  readonly sessions: NodeSessions;
  readonly reservations: NodeReservations;
  readonly pins: PinRepository;
  private readonly inventory = new Map<string, Set<string>>();
  private readonly running = new Map<string, Set<string>>();
  private readonly closers: Array<() => Promise<unknown>> = [];
  private readonly connections: Redis[] = [];

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    private readonly opts: SimOptions,
    private readonly logger: Logger,
  ) {
    this.pods = new PodRepository(redis, prefix);
    this.sessions = new NodeSessions(redis, prefix);
    this.reservations = new NodeReservations(redis, prefix);
    this.pins = new PinRepository(redis, prefix);
  }

  private connection(): Redis {
    const c = this.redis.duplicate({ maxRetriesPerRequest: null });
    this.connections.push(c);
    return c;
  }

  async start(): Promise<void> {
    for (const id of this.opts.nodes) {
      this.inventory.set(id, new Set(this.opts.cached));
      this.running.set(id, new Set());
      await this.sessions.register(
        {
          id,
          labels: { zone: 'sim' },
          capacity: { cpu: 8, memoryMiB: 16_384, gpu: 0 },
          agentUrl: 'http://127.0.0.1:1',
          capabilities: { runtime: 'sim' },
        },
        `s-${id}`,
      );
      await this.sessions.applyInventory(id, `s-${id}`, {
        images: this.opts.cached.map((digest) => ({ digest, sizeBytes: 1_000, layers: [] })),
        runningPods: [],
        checkpoints: [],
      });
      const worker = new Worker(nodeQueueName(id), (job) => this.agentJob(id, job), {
        connection: this.connection(),
        prefix: bullPrefix(this.prefix),
        concurrency: 16,
      });
      this.closers.push(() => worker.close());
    }
    await this.startScheduling();
    await this.startPrepuller();
    for (let i = 0; i < this.opts.replicas; i++) await this.startReplica();
  }

  private async startScheduling(): Promise<void> {
    const redis = this.connection();
    const view = new PlacementView(redis, this.reservations, this.prefix, READY_WINDOW_MS, this.logger);
    await view.start();
    const queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(this.prefix) });
    const backlog = new Backlog(redis, queue, this.prefix, this.logger);
    await backlog.start();
    const bus = new JobBus(redis, this.prefix);
    const handler = new SchedulePodHandler(
      {
        pods: this.pods,
        reservations: this.reservations,
        bus,
        backlog,
        hints: new PrepullHints(redis, this.prefix),
        view,
        images: new ImageRepository(redis, this.prefix),
      },
      this.logger,
    );
    const runner = new JobRunner({
      kind: 'scheduling',
      queueName: SCHEDULING_QUEUE,
      connection: redis,
      prefix: this.prefix,
      concurrency: 8,
      logger: this.logger,
      handlers: { 'schedule-pod': handler },
    });
    runner.start();
    this.closers.push(
      () => runner.close(),
      () => backlog.stop(),
      () => view.stop(),
      () => queue.close(),
      () => bus.close(),
    );
  }

  /** A controller replica with its own connection, placement view and bus, like a scheduler process. */
  private async startReplica(): Promise<PoolController> {
    const redis = this.connection();
    const view = new PlacementView(redis, this.reservations, this.prefix, READY_WINDOW_MS, this.logger);
    await view.start();
    const bus = new JobBus(redis, this.prefix);
    const controller = await startPoolController(
      redis,
      { prefix: this.prefix },
      view,
      bus,
      this.logger,
      { ...DEFAULT_POOL_TIMINGS, resendScheduleMs: 2_000 },
      {
        ...DEFAULT_POOL_CONTROLLER_OPTIONS,
        debounceMs: 20,
        resyncMs: 2_000,
      },
    );
    this.closers.push(
      () => controller.stop(),
      () => view.stop(),
      () => bus.close(),
    );
    return controller;
  }

  /** Pins appear -> their digests land on every node after `prepullMs`. */
  private async startPrepuller(): Promise<void> {
    const subscriber = this.connection();
    const scheduled = new Set<string>();
    subscriber.on('message', () => {
      void this.pins.listActive().then((active) => {
        for (const pin of active) {
          if (scheduled.has(pin.digest)) continue;
          scheduled.add(pin.digest);
          const timer = setTimeout(() => void this.prepull(pin.digest), this.opts.prepullMs);
          this.closers.push(async () => clearTimeout(timer));
        }
      });
    });
    await subscriber.subscribe(new Keys(this.prefix).pinsChanged());
  }

  private async prepull(digest: string): Promise<void> {
    for (const id of this.opts.nodes) {
      if (this.inventory.get(id)!.has(digest)) continue;
      this.inventory.get(id)!.add(digest);
      await this.report(id, [digest]);
    }
    this.prepulledAt.set(digest, Date.now());
  }

  private async report(node: string, added: string[] = []): Promise<void> {
    await this.sessions.applyDelta(node, `s-${node}`, {
      addedImages: added.map((digest) => ({ digest, sizeBytes: 1_000, layers: [] })),
      removedImages: [],
      runningPods: [...this.running.get(node)!],
      checkpoints: [],
    });
  }

  private async agentJob(node: string, job: Job): Promise<void> {
    const podId = (job.data as { podId?: string }).podId;
    if (!podId) return;
    if (job.name === 'start-pod') await this.startPod(node, podId);
    if (job.name === 'stop-pod') await this.stopPod(node, podId);
  }

  /** Like the agent: re-read, honour a stop request, then Starting -> Running and report. */
  private async startPod(node: string, podId: string): Promise<void> {
    const pod = await this.pods.get(podId);
    if (!pod || pod.phase !== 'Scheduled' || pod.node !== node) return;
    if (await this.pods.isStopRequested(podId)) {
      await this.pods.transition(podId, 'Stopped', {}, node);
      return;
    }
    const hadDigest = this.inventory.get(node)!.has(pod.image.digest);
    this.starts.push({ podId, digest: pod.image.digest, node, at: Date.now(), hadDigest });
    if (!hadDigest) {
      this.inventory.get(node)!.add(pod.image.digest);
      await this.report(node, [pod.image.digest]);
    }
    await this.pods.transition(podId, 'Starting');
    await sleep(this.opts.startMs);
    const moved = await this.pods.transition(podId, 'Running', { startMode: hadDigest ? 'warm-cache' : 'cold' });
    if (!moved.applied) return;
    this.runningAt.set(podId, Date.now());
    this.running.get(node)!.add(podId);
    await this.report(node);
  }

  private async stopPod(node: string, podId: string): Promise<void> {
    this.stopJobs.set(podId, (this.stopJobs.get(podId) ?? 0) + 1);
    const pod = await this.pods.get(podId);
    if (!pod || isTerminal(pod.phase)) return;
    await this.pods.transition(podId, 'Stopped', { endpoints: null }, node);
    this.running.get(node)!.delete(podId);
    await this.report(node);
  }

  async stop(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    for (const c of this.connections) await c.quit().catch(() => undefined);
  }
}
