import { z } from 'zod';
import { CHECKPOINT_STATES, describeIssues, POD_ID, type CheckpointRecord, type CheckpointState } from '@warmpod/domain';
import { ApiError } from '../http/api-error';

export interface CheckpointFilter {
  pod?: string;
  node?: string;
  state?: CheckpointState;
  limit: number;
}

const querySchema = z.strictObject({
  pod: z.string().regex(POD_ID, 'pod must be a pod id').optional(),
  node: z.string().min(1).max(253, 'node must be at most 253 characters').optional(),
  state: z.enum(CHECKPOINT_STATES, { error: `state must be one of ${CHECKPOINT_STATES.join(', ')}` }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** `?pod=...&node=...&state=available&limit=50`, checked. */
export function checkpointFilterFrom(query: unknown): CheckpointFilter {
  const parsed = querySchema.safeParse(query ?? {});
  if (!parsed.success) throw ApiError.invalidRequest('the query is not valid', describeIssues(parsed.error, 'query'));
  const { pod, node, state, limit } = parsed.data;
  return { ...(pod ? { pod } : {}), ...(node ? { node } : {}), ...(state ? { state } : {}), limit };
}

export function isFiltered(filter: CheckpointFilter): boolean {
  return filter.pod !== undefined || filter.node !== undefined || filter.state !== undefined;
}

export function matches(checkpoint: CheckpointRecord, filter: CheckpointFilter): boolean {
  return (
    (filter.pod === undefined || checkpoint.pod === filter.pod) &&
    (filter.node === undefined || checkpoint.node === filter.node) &&
    (filter.state === undefined || checkpoint.state === filter.state)
  );
}
