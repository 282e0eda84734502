import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { SCHEDULING_QUEUE, nodeQueueName, jobIdFor, JOB_CATALOG, type JobData, type JobItem, type QueueKind } from './catalog';
import { RETRY_POLICIES } from './retry-policy';
import { bullPrefix } from './prefix';

/** Producer side of the catalog: one Queue per queue name, opened lazily. */
export class JobBus {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
  ) {}

  async toScheduler(item: Extract<JobItem, { name: 'schedule-pod' }>): Promise<void> {
    await this.add(SCHEDULING_QUEUE, 'scheduling', item);
  }

  async toNode(
    nodeId: string,
    item: Extract<JobItem, { name: 'start-pod' | 'stop-pod' | 'checkpoint-pod' | 'delete-checkpoint' | 'drain-node' }>,
  ): Promise<void> {
    await this.add(nodeQueueName(nodeId), 'node', item);
  }

  /**
   * Asks a node to pull a pinned digest. One job per digest per node: while
   * one is queued or running, adding it again is a no-op.
   */
  async pullToNode(nodeId: string, data: JobData<'pull-image'>): Promise<void> {
    await this.add(nodeQueueName(nodeId), 'node', { name: 'pull-image', data });
  }

  /** Removes a job that was added but whose request is being rolled back. */
  async withdraw(queueName: string, item: JobItem): Promise<void> {
    const job = await this.queue(queueName).getJob(jobIdFor(item));
    if (job) await job.remove();
  }

  private async add(queueName: string, kind: QueueKind, item: JobItem): Promise<void> {
    // Validate on the way out too: a bad payload is a bug here, not later.
    JOB_CATALOG[item.name].schema.parse(item.data);
    const policy = RETRY_POLICIES[kind];
    await this.queue(queueName).add(item.name, item.data, {
      jobId: jobIdFor(item),
      attempts: policy.attempts,
      backoff: { type: 'warmpod' },
      removeOnComplete: true,
      // A failed pull is recorded in its pull state; its job must not linger, or
      // the same job id could not be queued again for a fresh try.
      removeOnFail: item.name === 'pull-image' ? true : { age: 24 * 3600 },
    });
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      // One Queue per node queue: the first one checks the server's version (an INFO), the others share the connection and skip it.
      q = new Queue(name, { connection: this.connection, prefix: bullPrefix(this.prefix), skipVersionCheck: this.queues.size > 0 });
      this.queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
