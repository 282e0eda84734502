import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError, Queue, QueueEvents, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { CANCEL, CONTROL_QUEUE, INTAKE_QUEUE, RUN_POD } from '@warmpod/client';
import { messageOf, runInContext, settledWithin, type Logger } from '@warmpod/observability';
import { connectRedis, Keys } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG, LOGGER } from '../providers';
import { CancelJob } from './cancel-job';
import { refusal } from './job-failure';
import { RunPodJob } from './run-pod-job';
import { strayTenantOf } from './stray-tenant';

/** One tenant's queues: intake (limited) and control (cancels), their workers, and the removal watch. */
interface TenantDoor {
  intake: Queue;
  control: Queue;
  workers: Worker[];
  events: QueueEvents;
}

const CLOSE_TIMEOUT_MS = 5_000;
/** Intake queues of unknown tenants the door fails jobs on; more are left until the next sweep. */
const MAX_STRAYS = 100;

/**
 * The queue door: per served tenant, a Worker on its intake queue (run-pod)
 * with BullMQ's global concurrency (pods in flight) and rate limit set on
 * the queue, a Worker on its control queue (cancel), and a QueueEvents that
 * stops the pod of a removed job. All on the consumer's own Redis user,
 * which reaches the intake queues only; admission uses the gateway's.
 * A sweep fails the jobs on intake queues of tenants it does not serve.
 */
@Injectable()
export class IntakeDoor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly keys: Keys;
  private connection?: Redis;
  /** Blocking connections of workers and QueueEvents: BullMQ leaves a connection it is given open. */
  private readonly blocking: Redis[] = [];
  private readonly doors = new Map<string, TenantDoor>();
  private readonly strays = new Map<string, Worker>();
  private readonly closing = new AbortController();
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    private readonly runPod: RunPodJob,
    private readonly cancel: CancelJob,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.keys = new Keys(config.prefix);
  }

  async onApplicationBootstrap(): Promise<void> {
    const { tenants, maxInFlight, rate } = this.config.intake;
    if (tenants.length === 0) return;
    this.connection = connectRedis(this.config.intake.redisUrl, 'gateway-intake', 'producer', { tlsCaFile: this.config.redisTlsCaFile });
    this.connection.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'intake redis connection error'));
    for (const tenant of tenants) this.doors.set(tenant, await this.open(tenant));
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.intake.sweepMs);
    this.logger.info({ tenants, maxInFlight, rate }, 'queue door open');
  }

  /** Tenants served and whether each one's workers run (for tests and probes). */
  get running(): Record<string, boolean> {
    return Object.fromEntries([...this.doors].map(([t, d]) => [t, d.workers.every((w) => w.isRunning())]));
  }

  private async open(tenant: string): Promise<TenantDoor> {
    const prefix = this.keys.intakePrefix(tenant);
    const intake = new Queue(INTAKE_QUEUE, { connection: this.redis(), prefix });
    const control = new Queue(CONTROL_QUEUE, { connection: this.redis(), prefix });
    await this.applyLimits(intake);
    const workers = [
      this.worker(INTAKE_QUEUE, prefix, this.config.intake.maxInFlight, (job, token) => this.process(tenant, intake, job, token)),
      this.worker(CONTROL_QUEUE, prefix, 4, (job) => this.control(tenant, intake, job)),
    ];
    const events = new QueueEvents(INTAKE_QUEUE, { connection: this.blockingConnection(), prefix });
    events.on('removed', ({ jobId }) => {
      this.cancel.onRemoved(tenant, jobId).then(
        (podId) => podId && this.logger.info({ tenant, jobId, podId }, 'run-pod job removed: its pod is stopped'),
        (error: unknown) => this.logger.warn({ tenant, jobId, err: messageOf(error) }, 'could not stop the pod of a removed job'),
      );
    });
    events.on('error', (error) => this.logger.warn({ tenant, err: error.message }, 'intake events error'));
    await Promise.all([...workers.map((w) => w.waitUntilReady()), events.waitUntilReady()]);
    return { intake, control, workers, events };
  }

  private worker(name: string, prefix: string, concurrency: number, process: (job: Job, token: string) => Promise<unknown>): Worker {
    const worker = new Worker(name, (job, token) => process(job, token ?? ''), {
      connection: this.blockingConnection(),
      prefix,
      concurrency,
    });
    worker.on('failed', (job, error) =>
      this.logger.info({ queue: prefix, job: job?.name, jobId: job?.id, err: error.message }, 'job failed'),
    );
    worker.on('error', (error) => this.logger.warn({ queue: prefix, err: error.message }, 'intake worker error'));
    return worker;
  }

  /** Pods in flight and the rate limit live in the queue's meta; set at start and on every sweep. */
  private async applyLimits(intake: Queue): Promise<void> {
    const { maxInFlight, rate } = this.config.intake;
    await intake.setGlobalConcurrency(maxInFlight);
    if (rate.max > 0) await intake.setGlobalRateLimit(rate.max, rate.durationMs);
    else await intake.removeGlobalRateLimit();
  }

  private async process(tenant: string, intake: Queue, job: Job, token: string): Promise<unknown> {
    if (job.name !== RUN_POD) throw refusal(400, 'unknown_job', `"${job.name}" is not a job of the intake queue (${RUN_POD})`);
    await this.refuseForeignParent(tenant, intake, job);
    const ctx = { requestId: `job-${tenant}-${String(job.id)}`.slice(0, 128), bindings: { tenant, job: job.name, jobId: String(job.id) } };
    return runInContext(ctx, async () => {
      try {
        return await this.runPod.run(tenant, job, this.closing.signal);
      } catch (error) {
        if (!this.closing.signal.aborted) throw error;
        // Closing: hand the job back at once; a replica (or this one, restarted) takes it up, and
        // the job id as idempotency key finds the same pod.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
    });
  }

  /**
   * The consumer's user reaches every tenant's own queues (a child's completion
   * updates its parent there), so a job whose parent fields (the producer can
   * write its own job's hash) name another tenant's job is cut off from it and
   * refused before anything would touch that parent. Rewriting them after this
   * check is harmless: BullMQ writes a parent through a child only once it has
   * removed the child's key from that parent's own sets, and only an add under
   * the parent's tenant's user puts it there (ARCHITECTURE.md, queue door).
   */
  private async refuseForeignParent(tenant: string, intake: Queue, job: Job): Promise<void> {
    const own = [`${this.keys.intakePrefix(tenant)}:`, `${this.keys.tenantQueuesPrefix(tenant)}:`];
    const parent = job.parentKey ?? (job.parent ? `${job.parent.queueKey}:${job.parent.id}` : undefined);
    if (parent === undefined || own.some((p) => parent.startsWith(p))) return;
    await this.redis().hdel(intake.toKey(String(job.id)), 'parentKey', 'parent');
    throw refusal(403, 'forbidden_parent', `the job's parent ${parent} is not one of tenant "${tenant}"'s queues`, [
      { path: 'parent', message: "a parent on the tenant's own queues only" },
    ]);
  }

  private async control(tenant: string, intake: Queue, job: Job): Promise<unknown> {
    if (job.name !== CANCEL) throw refusal(400, 'unknown_job', `"${job.name}" is not a job of the control queue (${CANCEL})`);
    return this.cancel.run(tenant, intake, job);
  }

  /**
   * Jobs on the intake queue of a tenant this door does not serve fail with
   * `unknown_tenant` (the queue exists when its meta does); served queues get
   * their limits again, in case anything changed them.
   */
  private async sweep(): Promise<void> {
    try {
      for (const door of this.doors.values()) await this.applyLimits(door.intake);
      let cursor = '0';
      do {
        const [next, found] = await this.redis().scan(cursor, 'MATCH', this.keys.intakeQueueMetas(INTAKE_QUEUE), 'COUNT', 500);
        cursor = next;
        for (const key of found) {
          const tenant = strayTenantOf(this.keys, key);
          if (tenant === undefined || this.doors.has(tenant) || this.strays.has(tenant)) continue;
          if (this.strays.size >= MAX_STRAYS || this.closing.signal.aborted) continue;
          this.strays.set(tenant, this.strayWorker(tenant));
        }
      } while (cursor !== '0');
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, 'intake sweep failed');
    }
  }

  private strayWorker(tenant: string): Worker {
    this.logger.warn({ tenant }, 'intake queue of a tenant this door does not serve: its jobs fail');
    return this.worker(INTAKE_QUEUE, this.keys.intakePrefix(tenant), 1, () =>
      Promise.reject(refusal(404, 'unknown_tenant', `no tenant "${tenant}" is served by warmpod's queue door`)),
    );
  }

  private blockingConnection(): Redis {
    const connection = this.redis().duplicate({ maxRetriesPerRequest: null });
    connection.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'intake redis connection error'));
    this.blocking.push(connection);
    return connection;
  }

  private redis(): Redis {
    if (!this.connection) throw new Error('the queue door is not open');
    return this.connection;
  }

  /**
   * Before the gateway's connections close: waits stop (jobs being followed are
   * handed back), then workers, queues and the door's connections close.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.closing.abort();
    const closers = [...this.doors.values()].flatMap((d) => [
      ...d.workers.map((w) => w.close()),
      d.events.close(),
      d.intake.close(),
      d.control.close(),
    ]);
    closers.push(...[...this.strays.values()].map((w) => w.close()));
    if (!(await settledWithin(Promise.allSettled(closers), CLOSE_TIMEOUT_MS))) this.logger.warn('queue door did not close in time');
    for (const connection of [...this.blocking, ...(this.connection ? [this.connection] : [])]) {
      if (connection.status !== 'ready' || !(await settledWithin(connection.quit(), CLOSE_TIMEOUT_MS))) connection.disconnect();
    }
  }
}
