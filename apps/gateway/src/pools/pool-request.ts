import { z } from 'zod';
import {
  DEFAULT_RESOURCES,
  describeIssues,
  podRequestFields,
  podRequestSchema,
  POOL_NAME,
  readinessIssues,
  type FieldProblem,
  type ImageReference,
} from '@warmpod/domain';
import type { PoolTemplate } from '@warmpod/store';
import { ApiError } from '../http/api-error';

export const POOL_SIZE_MAX = 256;

/** The process-shaping fields of a pod and its readiness, as in `POST /v1/pods` (checkpointing comes with a later issue). */
const podTemplateSchema = podRequestFields
  .pick({ command: true, args: true, env: true, ports: true, resources: true, readiness: true })
  .superRefine((template, ctx) => {
    for (const issue of readinessIssues(template)) ctx.addIssue({ code: 'custom', ...issue });
  });

const poolName = z.string().regex(POOL_NAME, 'pool names are lower-case DNS labels of at most 63 characters');
const poolSize = z
  .number()
  .int('size is a whole number of pods')
  .min(0, 'size must be at least 0')
  .max(POOL_SIZE_MAX, `size must be at most ${POOL_SIZE_MAX}`);

/** The body of `POST /v1/pools`. Unknown fields are refused. */
export const createPoolSchema = z.strictObject({
  name: poolName,
  image: z.string().min(1, 'image is required'),
  size: poolSize,
  podTemplate: podTemplateSchema,
  nodeSelector: podRequestSchema.shape.nodeSelector,
});
export type CreatePoolRequest = z.infer<typeof createPoolSchema>;

/** The body of `PATCH /v1/pools/{name}`: resize, and/or re-resolve the image (same or new reference). */
export const patchPoolSchema = z
  .strictObject({
    size: poolSize.optional(),
    image: z.string().min(1, 'image must not be empty').optional(),
    repin: z.literal(true, 'repin can only be true').optional(),
  })
  .refine((p) => p.size !== undefined || p.image !== undefined || p.repin !== undefined, 'give size, image or repin');
export type PatchPoolRequest = z.infer<typeof patchPoolSchema>;

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw ApiError.invalidRequest(`the ${what} is not valid`, describeIssues(parsed.error));
  return parsed.data;
}

export function normaliseTemplate(t: CreatePoolRequest['podTemplate']): PoolTemplate {
  return {
    command: t.command ?? [],
    args: t.args ?? [],
    env: t.env ?? {},
    ports: t.ports ?? [],
    resources: t.resources ?? DEFAULT_RESOURCES,
    ...(t.readiness ? { readiness: t.readiness } : {}),
  };
}

/** `registry/repository:tag`, or `@digest` for a digest reference: what a pin is made for. */
export function referenceOf(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
}

/** Fields a pod request may not carry when it claims from a pool: the pool's template decides them. */
export function claimProblems(body: Record<string, unknown>): FieldProblem[] {
  return Object.keys(body)
    .filter((key) => key !== 'image' && key !== 'pool' && body[key] !== undefined)
    .sort()
    .map((path) => ({ path, message: "set by the pool's template: leave it out when claiming from a pool" }));
}
