import { Queue, QueueEvents, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  CANCEL,
  CONTROL_QUEUE,
  cancelResultSchema,
  INTAKE_QUEUE,
  RUN_POD,
  runPodProgressSchema,
  runPodResultSchema,
  WarmpodJobError,
  type CancelResult,
  type RunPodData,
  type RunPodProgress,
  type RunPodResult,
  type WaitFor,
} from './intake-contract';

/** What an operator hands a tenant's producer: its Redis user and its intake queue's BullMQ prefix. */
export interface ProducerConnection {
  /** `redis://<user>:<password>@host:port`: the tenant's own Redis ACL user. */
  url: string;
  /** The BullMQ prefix of the tenant's intake queue. */
  queuePrefix: string;
  /** The BullMQ prefix for the tenant's own queues (a flow's parent), which warmpod's consumer can update. */
  ownQueuesPrefix: string;
}

export interface RunPodOptions {
  waitFor?: WaitFor;
  timeoutSeconds?: number;
  /** The job id, which is also the idempotency key: the same id twice gives one pod. */
  jobId?: string;
  /** Called on each phase the pod enters. */
  onProgress?: (progress: RunPodProgress) => void;
}

/**
 * Retries are for outages only (the registry or Redis away): permanent
 * refusals fail at once whatever `attempts` says. Finished jobs are kept a
 * day so their id keeps answering with the same pod.
 */
export const RUN_POD_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 86_400 },
};

/**
 * The typed producer of a tenant's intake queue, on BullMQ's Queue and
 * QueueEvents. It never writes the queue's meta (its Redis user may not:
 * the limits there are warmpod's).
 */
export class WarmpodQueueClient {
  readonly queue: Queue;
  readonly control: Queue;
  private events?: QueueEvents;
  private controlEvents?: QueueEvents;

  readonly connection: ConnectionOptions;
  readonly queuePrefix: string;

  constructor(private readonly producer: ProducerConnection) {
    this.connection = { url: producer.url, maxRetriesPerRequest: null };
    this.queuePrefix = producer.queuePrefix;
    this.queue = new Queue(INTAKE_QUEUE, { connection: this.connection, prefix: this.queuePrefix, skipMetasUpdate: true });
    this.control = new Queue(CONTROL_QUEUE, { connection: this.connection, prefix: this.queuePrefix, skipMetasUpdate: true });
  }

  /** Adds a run-pod job; `runPod` waits for it. */
  addRunPod(spec: Omit<RunPodData, 'waitFor' | 'timeoutSeconds'>, opts: RunPodOptions = {}): Promise<Job> {
    const data: RunPodData = {
      ...spec,
      ...(opts.waitFor ? { waitFor: opts.waitFor } : {}),
      ...(opts.timeoutSeconds ? { timeoutSeconds: opts.timeoutSeconds } : {}),
    };
    return this.queue.add(RUN_POD, data, { ...RUN_POD_JOB_OPTIONS, ...(opts.jobId ? { jobId: opts.jobId } : {}) });
  }

  /** Runs a pod and resolves with its record once it reached `waitFor`; rejects with a WarmpodJobError. */
  async runPod(spec: Omit<RunPodData, 'waitFor' | 'timeoutSeconds'>, opts: RunPodOptions = {}): Promise<RunPodResult> {
    const events = await this.queueEvents();
    const job = await this.addRunPod(spec, opts);
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId !== job.id || !opts.onProgress) return;
      const progress = runPodProgressSchema.safeParse(data);
      if (progress.success) opts.onProgress(progress.data);
    };
    events.on('progress', onProgress);
    try {
      return runPodResultSchema.parse(await job.waitUntilFinished(events));
    } catch (error) {
      throw error instanceof Error && !(error instanceof WarmpodJobError) ? WarmpodJobError.fromFailedReason(error.message) : error;
    } finally {
      events.off('progress', onProgress);
    }
  }

  /** Waits for a job of the intake queue to finish: its return value, or a rejection with its failedReason. */
  async finished(job: Job): Promise<unknown> {
    return job.waitUntilFinished(await this.queueEvents());
  }

  /** Stops the pod of a run-pod job (or drops the job if it has not started); resolves when done. */
  async cancel(jobId: string): Promise<CancelResult> {
    const events = await this.queueEvents('control');
    const job = await this.control.add(CANCEL, { jobId }, { attempts: 10, backoff: { type: 'fixed', delay: 250 }, removeOnComplete: true });
    try {
      return cancelResultSchema.parse(await job.waitUntilFinished(events));
    } catch (error) {
      throw error instanceof Error ? WarmpodJobError.fromFailedReason(error.message) : error;
    }
  }

  private async queueEvents(which: 'intake' | 'control' = 'intake'): Promise<QueueEvents> {
    const open = async (name: string) => {
      // From the stream's last entry, not from whenever its first read happens: an event in between is not missed.
      const queue = name === CONTROL_QUEUE ? this.control : this.queue;
      const redis = new Redis(this.producer.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      const last = await redis
        .xrevrange(queue.keys.events, '+', '-', 'COUNT', 1)
        .then((entries) => entries[0]?.[0] ?? '0-0')
        .finally(() => redis.disconnect());
      const events = new QueueEvents(name, { connection: this.connection, prefix: this.queuePrefix, lastEventId: last });
      await events.waitUntilReady();
      return events;
    };
    if (which === 'control') return (this.controlEvents ??= await open(CONTROL_QUEUE));
    return (this.events ??= await open(INTAKE_QUEUE));
  }

  async close(): Promise<void> {
    await Promise.all([this.queue.close(), this.control.close(), this.events?.close(), this.controlEvents?.close()]);
  }
}
