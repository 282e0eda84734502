import { z } from 'zod';
import { describeIssues, isPodPhase, type PodPhase, type PodRecord } from '@warmpod/domain';
import { ApiError } from '../http/api-error';

export interface PodFilter {
  phase?: PodPhase;
  labels: Array<[string, string]>;
  limit: number;
}

const label = z
  .string()
  .regex(/^[^=]+=.*$/, 'labels are filtered as key=value')
  .transform((s): [string, string] => {
    const eq = s.indexOf('=');
    return [s.slice(0, eq), s.slice(eq + 1)];
  });

const querySchema = z.strictObject({
  phase: z
    .string()
    .refine(isPodPhase, 'unknown phase')
    .transform((p) => p as PodPhase)
    .optional(),
  // Fastify's query parser gives a string for one `label=` and an array for several.
  label: z.union([label.transform((l) => [l]), z.array(label).max(16)]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** `?phase=Running&label=k=v&label=k2=v2&limit=50`, checked. */
export function podFilterFrom(query: unknown): PodFilter {
  const parsed = querySchema.safeParse(query ?? {});
  if (!parsed.success) throw ApiError.invalidRequest('the query is not valid', describeIssues(parsed.error, 'query'));
  const { phase, label: labels, limit } = parsed.data;
  return { ...(phase ? { phase } : {}), labels: labels ?? [], limit };
}

export function matches(pod: PodRecord, filter: PodFilter): boolean {
  if (filter.phase && pod.phase !== filter.phase) return false;
  return filter.labels.every(([key, value]) => pod.labels[key] === value);
}
