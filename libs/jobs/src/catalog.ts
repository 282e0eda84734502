import { z } from 'zod';
import { CHECKPOINT_ID, isValidNodeId, parsePinned, POD_ID } from '@warmpod/domain';

/**
 * The one job catalog: every job name, the queue kind it travels on, and its
 * payload schema. Producers and consumers both type against it, and consumers
 * validate payloads against the same schema where they enter.
 */

export const SCHEDULING_QUEUE = 'scheduling';

export function nodeQueueName(nodeId: string): string {
  if (!isValidNodeId(nodeId)) throw new Error(`invalid node id "${nodeId}"`);
  return `node-${nodeId}`;
}

const podRef = {
  podId: z.string().regex(POD_ID, 'podId is not a pod id'),
  requestId: z.string().min(1).max(128),
  /** > 0 once a pod is placed again after losing its node: new jobs, not duplicates of the old ones. */
  generation: z.number().int().min(0).optional(),
};

/** The part every pod job payload shares; lenient on extra fields so a give-up hook can still find the pod. */
export const POD_REF = z.object(podRef);
export type PodRef = z.infer<typeof POD_REF>;

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

const pullRef = {
  digest: z.string().regex(SHA256_DIGEST, 'digest is not a sha256 digest'),
  requestId: podRef.requestId,
};

/** What a failed pull-image job must still name for its give-up hook: the digest. */
export const PULL_REF = z.object(pullRef);
export type PullRef = z.infer<typeof PULL_REF>;

function isPinnedReference(value: string): boolean {
  try {
    parsePinned(value);
    return true;
  } catch {
    return false;
  }
}

const pullImage = z
  .strictObject({
    ...pullRef,
    /** `registry/repository@digest`: never a tag. */
    pinned: z.string().max(600).refine(isPinnedReference, 'pinned is not a registry/repository@digest reference'),
  })
  .refine((p) => !isPinnedReference(p.pinned) || parsePinned(p.pinned).digest === p.digest, {
    message: 'pinned names another digest',
    path: ['pinned'],
  });

const checkpointId = z.string().regex(CHECKPOINT_ID, 'checkpointId is not a checkpoint id');

/** What a failed delete-checkpoint job must still name for its give-up hook. */
export const CHECKPOINT_REF = z.object({ checkpointId, requestId: podRef.requestId });
export type CheckpointRef = z.infer<typeof CHECKPOINT_REF>;

/**
 * `ref` is the lenient part of a payload a give-up hook needs when the
 * payload as a whole failed validation (which pod, which digest).
 */
export const JOB_CATALOG = {
  /** Place a Pending pod on a node and hand it to that node's queue. */
  'schedule-pod': { queue: 'scheduling', schema: z.strictObject({ ...podRef }), ref: POD_REF },
  /** Pull (if needed) and run a Scheduled pod on this node. */
  'start-pod': { queue: 'node', schema: z.strictObject({ ...podRef }), ref: POD_REF },
  /** Stop a pod on this node and remove everything it left. */
  'stop-pod': {
    queue: 'node',
    schema: z.strictObject({ ...podRef, reason: z.enum(['user', 'reconcile']) }),
    ref: POD_REF,
  },
  /** Pull a pinned digest onto this node ahead of any pod (the prepuller's job). */
  'pull-image': { queue: 'node', schema: pullImage, ref: PULL_REF },
  /** Checkpoint a Running pod on demand, leaving it running; the pending record already exists. */
  'checkpoint-pod': { queue: 'node', schema: z.strictObject({ ...podRef, checkpointId }), ref: z.object({ ...podRef, checkpointId }) },
  /** Remove a checkpoint's files from this node; the record is already marked deleted. */
  'delete-checkpoint': { queue: 'node', schema: z.strictObject({ checkpointId, requestId: podRef.requestId }), ref: CHECKPOINT_REF },
  /** This node leaves the cluster: its agent moves or stops its pods, then deregisters (POST /v1/nodes/{id}/drain). */
  'drain-node': { queue: 'node', schema: z.strictObject({ requestId: podRef.requestId }), ref: z.object({ requestId: podRef.requestId }) },
} as const;

export type JobName = keyof typeof JOB_CATALOG;
export type QueueKind = (typeof JOB_CATALOG)[JobName]['queue'];
export type JobData<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]['schema']>;
/** The lenient reference a give-up hook gets when the full payload is invalid. */
export type JobRef<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]['ref']>;
export type JobItem = { [N in JobName]: { name: N; data: JobData<N> } }[JobName];
export type JobsOn<K extends QueueKind> = {
  [N in JobName]: (typeof JOB_CATALOG)[N]['queue'] extends K ? N : never;
}[JobName];

export function jobNamesOn(kind: QueueKind): JobName[] {
  return (Object.keys(JOB_CATALOG) as JobName[]).filter((n) => JOB_CATALOG[n].queue === kind);
}

/**
 * A stable id per job and subject (the pod; for pull-image the digest, on a
 * per-node queue): BullMQ then refuses a duplicate while one is queued.
 * Never contains ':', which BullMQ refuses in custom ids.
 */
export function jobIdFor(item: JobItem): string {
  if (item.name === 'pull-image') return `${item.name}-${item.data.digest.slice('sha256:'.length)}`;
  if (item.name === 'checkpoint-pod' || item.name === 'delete-checkpoint') return `${item.name}-${item.data.checkpointId}`;
  // One drain per node queue: asking again while one is queued is a no-op.
  if (item.name === 'drain-node') return item.name;
  const generation = item.data.generation ? `-g${item.data.generation}` : '';
  return `${item.name}-${item.data.podId}${generation}`;
}

/** Fields of a payload bound to every log line of its job: the pod, or the digest. */
export function jobSubject(data: unknown): Record<string, string> {
  const d = (data ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  if (typeof d['podId'] === 'string') out['podId'] = d['podId'];
  if (typeof d['digest'] === 'string') out['digest'] = d['digest'];
  if (typeof d['checkpointId'] === 'string') out['checkpointId'] = d['checkpointId'];
  return out;
}
