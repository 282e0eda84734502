import { z } from 'zod';

/** Bounds of a pod's `checkpoint` section; chosen so that a typo (ms for s, a bare word for a path) is refused. */
export const CHECKPOINT_LIMITS = {
  timeoutSecondsMin: 1,
  timeoutSecondsMax: 3600,
  timeoutSecondsDefault: 300,
  execArgsMax: 64,
  execArgLength: 4096,
  httpPathLength: 2048,
  filePathLength: 4096,
} as const;

const port = z
  .number({ error: (issue) => (issue.input === undefined ? 'is required' : 'port must be a number') })
  .int('port must be a whole number')
  .min(1, 'port must be 1-65535')
  .max(65535, 'port must be 1-65535');

// Printable ASCII without spaces: the path goes on an HTTP request line as is.
const HTTP_PATH = /^\/[\x21-\x7e]*$/;

const httpCondition = z.strictObject({
  type: z.literal('http'),
  port,
  path: z
    .string()
    .max(CHECKPOINT_LIMITS.httpPathLength, `path must be at most ${CHECKPOINT_LIMITS.httpPathLength} characters`)
    .regex(HTTP_PATH, 'path must start with "/" and contain no spaces or control characters')
    .refine((p) => !p.includes('#'), 'path must not contain a fragment ("#")')
    .default('/'),
});

const tcpCondition = z.strictObject({ type: z.literal('tcp'), port });

const execCondition = z.strictObject({
  type: z.literal('exec'),
  command: z
    .array(z.string().max(CHECKPOINT_LIMITS.execArgLength, `arguments must be at most ${CHECKPOINT_LIMITS.execArgLength} characters`))
    .min(1, 'command must name a program to run inside the container')
    .max(CHECKPOINT_LIMITS.execArgsMax, `command must have at most ${CHECKPOINT_LIMITS.execArgsMax} elements`)
    .refine((argv) => argv[0] === undefined || argv[0].trim() !== '', 'the first element of command must be a program'),
});

const filePath = z
  .string()
  .max(CHECKPOINT_LIMITS.filePathLength, `path must be at most ${CHECKPOINT_LIMITS.filePathLength} characters`)
  .refine((p) => p.startsWith('/'), "path must be absolute (inside the pod's root)")
  .refine((p) => !p.includes('\0'), 'path must not contain NUL')
  .refine((p) => !p.split('/').includes('..'), 'path must not contain ".." segments')
  .refine((p) => p.split('/').some((s) => s !== '' && s !== '.'), 'path must name a file, not the root');

const fileCondition = z.strictObject({ type: z.literal('file'), path: filePath });

export const CHECKPOINT_CONDITION_TYPES = ['http', 'tcp', 'exec', 'file'] as const;
export type CheckpointConditionType = (typeof CHECKPOINT_CONDITION_TYPES)[number];

/** When a pod counts as ready to be checkpointed (and, after a restore, ready to be exposed). */
export const checkpointConditionSchema = z.discriminatedUnion('type', [httpCondition, tcpCondition, execCondition, fileCondition], {
  error: (issue) =>
    issue.code === 'invalid_union' || issue.code === 'invalid_type'
      ? `condition.type must be one of ${CHECKPOINT_CONDITION_TYPES.join(', ')}`
      : undefined,
});
export type CheckpointCondition = z.infer<typeof checkpointConditionSchema>;

/**
 * The `checkpoint` section of `POST /v1/pods`. `enabled` is the request, not
 * the outcome: `effectiveCheckpointing` decides whether it happens. Whether
 * a condition is needed depends on the pod's readiness: `readinessIssues`.
 */
export const checkpointSpecSchema = z.strictObject({
  enabled: z.boolean({ error: (issue) => (issue.input === undefined ? 'is required' : 'enabled must be true or false') }),
  condition: checkpointConditionSchema.optional(),
  timeoutSeconds: z
    .number()
    .int('timeoutSeconds must be a whole number of seconds')
    .min(CHECKPOINT_LIMITS.timeoutSecondsMin, `timeoutSeconds must be at least ${CHECKPOINT_LIMITS.timeoutSecondsMin}`)
    .max(CHECKPOINT_LIMITS.timeoutSecondsMax, `timeoutSeconds must be at most ${CHECKPOINT_LIMITS.timeoutSecondsMax} (one hour)`)
    .default(CHECKPOINT_LIMITS.timeoutSecondsDefault),
});
/** The request as written by the client (defaults not yet applied). */
export type CheckpointRequest = z.input<typeof checkpointSpecSchema>;
/** The normalised section: defaults applied. */
export type CheckpointSpec = z.infer<typeof checkpointSpecSchema>;
