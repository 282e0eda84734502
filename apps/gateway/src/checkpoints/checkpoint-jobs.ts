import { Injectable } from '@nestjs/common';
import { JobBus, nodeQueueName, type JobItem } from '@warmpod/jobs';

export type CheckpointJob = Extract<JobItem, { name: 'checkpoint-pod' | 'delete-checkpoint' }>;

/** Sends the checkpoint jobs to a node's queue, and takes one back when its request is rolled back. */
@Injectable()
export class CheckpointJobs {
  constructor(private readonly jobs: JobBus) {}

  send(node: string, item: CheckpointJob): Promise<void> {
    return this.jobs.toNode(node, item);
  }

  withdraw(node: string, item: CheckpointJob): Promise<void> {
    return this.jobs.withdraw(nodeQueueName(node), item);
  }
}
