import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { reportConnectionErrors, runInContext, type Logger } from '@warmpod/observability';
import { JOB_CATALOG, jobNamesOn, jobSubject, type JobData, type JobRef, type JobsOn, type QueueKind } from './catalog';
import { PermanentJobError } from './errors';
import { RETRY_POLICIES } from './retry-policy';
import { bullPrefix } from './prefix';
import type { JobMetrics } from './job-metrics';

export interface JobHandler<N extends keyof typeof JOB_CATALOG> {
  run(data: JobData<N>, meta: { attempt: number; jobId: string }): Promise<void>;
  /**
   * Called once when the job has failed for good (permanent error, retries
   * used up, or a payload that failed validation but still names its
   * subject: the pod, or the digest). `attempts` is how many runs were made.
   */
  onGiveUp?(data: JobData<N> | JobRef<N>, error: Error, meta: { attempts: number }): Promise<void>;
}

export type HandlerTable<K extends QueueKind> = { [N in JobsOn<K>]: JobHandler<N> };

export interface JobRunnerOptions<K extends QueueKind> {
  kind: K;
  queueName: string;
  connection: Redis;
  prefix: string;
  concurrency: number;
  handlers: HandlerTable<K>;
  logger: Logger;
  /** Counts failed runs under the queue kind. */
  metrics?: Pick<JobMetrics, 'failed'>;
}

/**
 * Consumer side of the catalog. Refuses to start unless every job of its
 * queue kind has exactly one handler; validates each payload at the edge;
 * binds the request id for the whole job.
 */
export class JobRunner<K extends QueueKind> {
  private worker?: Worker;
  private connection?: Redis;

  constructor(private readonly opts: JobRunnerOptions<K>) {
    const expected = jobNamesOn(opts.kind).sort();
    const given = Object.keys(opts.handlers).sort();
    const missing = expected.filter((n) => !given.includes(n));
    const extra = given.filter((n) => !expected.includes(n as never));
    if (missing.length || extra.length) {
      throw new Error(
        `job handlers for ${opts.queueName} do not match the catalog` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') +
          (extra.length ? `; not in catalog for this queue: ${extra.join(', ')}` : ''),
      );
    }
  }

  start(): void {
    const policy = RETRY_POLICIES[this.opts.kind];
    // BullMQ leaves a connection it is given open on close: keep it to close it ourselves.
    this.connection = reportConnectionErrors(
      this.opts.connection.duplicate({ maxRetriesPerRequest: null }),
      this.opts.logger,
      `worker ${this.opts.queueName}`,
    );
    this.worker = new Worker(this.opts.queueName, (job) => this.process(job), {
      connection: this.connection,
      prefix: bullPrefix(this.opts.prefix),
      concurrency: this.opts.concurrency,
      lockDuration: policy.stall.lockDurationMs,
      stalledInterval: policy.stall.stalledIntervalMs,
      maxStalledCount: policy.stall.maxStalledCount,
      settings: { backoffStrategy: (attempts: number) => policy.backoffMs(attempts) },
    });
    this.worker.on('failed', (job, error) => {
      if (!job) return;
      const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      this.opts.logger.warn({ job: job.name, jobId: job.id, attempt: job.attemptsMade, final, err: error.message }, 'job failed');
      this.opts.metrics?.failed(this.opts.kind, final);
      if (final) void this.giveUp(job, error);
    });
    this.worker.on('error', (error) => this.opts.logger.error({ err: error.message }, 'worker error'));
  }

  /** Consuming its queue: started and not closed (what a readiness probe asks). */
  get running(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  private async process(job: Job): Promise<void> {
    const name = job.name as JobsOn<K>;
    const entry = JOB_CATALOG[name];
    if (!entry || entry.queue !== this.opts.kind) {
      throw new UnrecoverableError(`job "${job.name}" is not in the catalog for ${this.opts.queueName}`);
    }
    const parsed = entry.schema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(
        `invalid payload for ${job.name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const data = parsed.data as JobData<typeof name>;
    const handler = this.opts.handlers[name] as JobHandler<typeof name>;
    const ctx = { requestId: data.requestId, bindings: { job: job.name, jobId: String(job.id), ...jobSubject(data) } };
    return runInContext(ctx, async () => {
      try {
        await handler.run(data, { attempt: job.attemptsMade + 1, jobId: String(job.id) });
      } catch (error) {
        if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
        throw error;
      }
    });
  }

  private async giveUp(job: Job, error: Error): Promise<void> {
    const name = job.name as JobsOn<K>;
    const handler = this.opts.handlers[name] as JobHandler<typeof name> | undefined;
    if (!handler?.onGiveUp) return;
    // The full payload when it is valid; else at least its subject (which pod, which digest).
    const entry = JOB_CATALOG[name];
    const full = entry?.schema.safeParse(job.data);
    const ref = full?.success ? undefined : entry?.ref.safeParse(job.data);
    const data = full?.success ? (full.data as JobData<typeof name>) : ref?.success ? (ref.data as JobRef<typeof name>) : undefined;
    if (!data) {
      this.opts.logger.error({ job: job.name, jobId: job.id }, 'job failed for good with a payload that names nothing to update');
      return;
    }
    await runInContext({ requestId: data.requestId, bindings: { job: job.name, jobId: String(job.id), ...jobSubject(data) } }, async () => {
      try {
        await handler.onGiveUp!(data, error, { attempts: job.attemptsMade });
      } catch (hookError) {
        this.opts.logger.error({ err: (hookError as Error).message }, 'give-up hook failed');
      }
    });
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.connection?.quit().catch(() => undefined);
  }
}
