import { FlowProducer, type ConnectionOptions, type Job, type JobNode } from 'bullmq';
import { INTAKE_QUEUE, RUN_POD, runPodResultSchema, type RunPodData, type RunPodResult } from '../intake-contract';
import { RUN_POD_JOB_OPTIONS } from '../queue-client';

/**
 * Example: a BullMQ flow whose parent waits for three pods. The parent lives
 * on one of the tenant's own queues (under its own-queues prefix, which
 * warmpod's consumer may update when a child completes); the children are
 * run-pod jobs on the tenant's intake queue. A child that fails fails the
 * parent. The parent's processor reads its children's pod records with
 * `podResultsOf`.
 */
export interface ThreePodFlow {
  connection: ConnectionOptions;
  /** The tenant's intake queue prefix. */
  intakePrefix: string;
  /** The tenant's own-queues prefix and the parent's queue there. */
  parentPrefix: string;
  parentQueue: string;
}

export async function addThreePodFlow(flow: ThreePodFlow, name: string, pods: [RunPodData, RunPodData, RunPodData]): Promise<JobNode> {
  const producer = new FlowProducer({ connection: flow.connection });
  try {
    return await producer.add({
      name,
      queueName: flow.parentQueue,
      prefix: flow.parentPrefix,
      children: pods.map((data, i) => ({
        name: RUN_POD,
        queueName: INTAKE_QUEUE,
        prefix: flow.intakePrefix,
        data,
        opts: { ...RUN_POD_JOB_OPTIONS, jobId: `${name}-pod-${i}`, failParentOnFailure: true },
      })),
    });
  } finally {
    await producer.close();
  }
}

/** In the parent's processor: the pod records its run-pod children completed with, validated. */
export async function podResultsOf(parent: Job): Promise<RunPodResult[]> {
  const values = await parent.getChildrenValues<unknown>();
  return Object.values(values).map((value) => runPodResultSchema.parse(value));
}
