import { z } from 'zod';
import { POD_ID } from '@warmpod/domain';

/**
 * The one job catalog: every job name, the queue kind it travels on, and its
 * payload schema. Producers and consumers both type against it, and consumers
 * validate payloads against the same schema where they enter.
 */

export const SCHEDULING_QUEUE = 'scheduling';
const NODE_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function nodeQueueName(nodeId: string): string {
  if (!NODE_ID.test(nodeId)) throw new Error(`invalid node id "${nodeId}"`);
  return `node-${nodeId}`;
}

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

const podRef = {
  podId: z.string().regex(POD_ID, 'podId is not a pod id'),
  requestId: z.string().min(1).max(128),
  /** > 0 once a pod is placed again after losing its node: new jobs, not duplicates of the old ones. */
  generation: z.number().int().min(0).optional(),
};

/** The part every job payload shares; lenient on extra fields so a give-up hook can still find the pod. */
export const POD_REF = z.object(podRef);
export type PodRef = z.infer<typeof POD_REF>;

export const JOB_CATALOG = {
  /** Place a Pending pod on a node and hand it to that node's queue. */
  'schedule-pod': { queue: 'scheduling', schema: z.strictObject({ ...podRef }) },
  /** Pull (if needed) and run a Scheduled pod on this node. */
  'start-pod': { queue: 'node', schema: z.strictObject({ ...podRef }) },
  /** Stop a pod on this node and remove everything it left. */
  'stop-pod': {
    queue: 'node',
    schema: z.strictObject({ ...podRef, reason: z.enum(['user', 'reconcile']) }),
  },
} as const;

export type JobName = keyof typeof JOB_CATALOG;
export type QueueKind = (typeof JOB_CATALOG)[JobName]['queue'];
export type JobData<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]['schema']>;
export type JobItem = { [N in JobName]: { name: N; data: JobData<N> } }[JobName];
export type JobsOn<K extends QueueKind> = {
  [N in JobName]: (typeof JOB_CATALOG)[N]['queue'] extends K ? N : never;
}[JobName];

export function jobNamesOn(kind: QueueKind): JobName[] {
  return (Object.keys(JOB_CATALOG) as JobName[]).filter((n) => JOB_CATALOG[n].queue === kind);
}

/** A stable id per job and pod: BullMQ then refuses a duplicate while one is queued. */
export function jobIdFor(item: JobItem): string {
  const generation = item.data.generation ? `-g${item.data.generation}` : '';
  return `${item.name}-${item.data.podId}${generation}`;
}
