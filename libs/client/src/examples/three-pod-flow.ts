import { FlowProducer, type Job, type JobNode } from 'bullmq';
import { INTAKE_QUEUE, RUN_POD, runPodResultSchema, type RunPodData, type RunPodResult } from '../intake-contract';
import { RUN_POD_JOB_OPTIONS, type ProducerConnection } from '../queue-client';

/**
 * Example: a BullMQ flow whose parent waits for three pods. The parent lives
 * on one of the tenant's own queues (under `ownQueuesPrefix`, which
 * warmpod's consumer may update when a child completes); the children are
 * run-pod jobs on the tenant's intake queue, their ids `<name>-pod-<i>`.
 * A child that fails fails the parent. The parent's processor reads its
 * children's pod records with `podResultsOf`. The caller owns `flow` (a
 * FlowProducer on the producer's URL) and closes it after waiting.
 */
export function addThreePodFlow(
  flow: FlowProducer,
  producer: ProducerConnection,
  parentQueue: string,
  name: string,
  pods: [RunPodData, RunPodData, RunPodData],
): Promise<JobNode> {
  return flow.add({
    name,
    queueName: parentQueue,
    prefix: producer.ownQueuesPrefix,
    children: pods.map((data, i) => ({
      name: RUN_POD,
      queueName: INTAKE_QUEUE,
      prefix: producer.queuePrefix,
      data,
      opts: { ...RUN_POD_JOB_OPTIONS, jobId: `${name}-pod-${i}`, failParentOnFailure: true },
    })),
  });
}

/** In the parent's processor: the pod records its run-pod children completed with, validated. */
export async function podResultsOf(parent: Job): Promise<RunPodResult[]> {
  const values = await parent.getChildrenValues<unknown>();
  return Object.values(values).map((value) => runPodResultSchema.parse(value));
}
