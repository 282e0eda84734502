import { z } from 'zod';
import { checkpointSpecSchema, type CheckpointSpec } from './checkpoint/checkpoint-spec';
import { readinessIssues, readinessSpecSchema, type ReadinessSpec } from './readiness-spec';

/** Limits chosen so that a typo (memory in bytes, cpu in millicores) is refused. */
export const LIMITS = {
  cpuMax: 64,
  memoryMiBMin: 4,
  memoryMiBMax: 262_144,
  gpuMax: 8,
  argsMax: 256,
  argLength: 4096,
  envMax: 256,
  envValueLength: 32_768,
  portsMax: 32,
  labelsMax: 64,
} as const;

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A warm pool's name: a DNS label, so it is also a valid label value. */
export const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const labelMap = z
  .record(
    z.string().regex(LABEL_KEY, 'label keys are DNS-style names of at most 63 characters'),
    z.string().regex(LABEL_VALUE, 'label values are at most 63 alphanumerics, "-", "_" or "."'),
  )
  .refine((m) => Object.keys(m).length <= LIMITS.labelsMax, `at most ${LIMITS.labelsMax} entries`);

const argList = z.array(z.string().max(LIMITS.argLength)).max(LIMITS.argsMax);

export const resourcesSchema = z.strictObject({
  cpu: z.number().positive('cpu must be greater than 0').max(LIMITS.cpuMax, `cpu must be at most ${LIMITS.cpuMax} cores`),
  memoryMiB: z
    .number()
    .int('memoryMiB must be a whole number of MiB')
    .min(LIMITS.memoryMiBMin, `memoryMiB must be at least ${LIMITS.memoryMiBMin}`)
    .max(LIMITS.memoryMiBMax, `memoryMiB must be at most ${LIMITS.memoryMiBMax} (256 GiB)`),
  gpu: z.number().int().min(0).max(LIMITS.gpuMax, `gpu must be at most ${LIMITS.gpuMax}`).default(0),
});
export type Resources = z.infer<typeof resourcesSchema>;

export const DEFAULT_RESOURCES: Resources = { cpu: 0.1, memoryMiB: 128, gpu: 0 };

/** The fields of `POST /v1/pods`, without the rules across them (pool templates pick from these). */
export const podRequestFields = z.strictObject({
  image: z.string().min(1, 'image is required'),
  command: argList.optional(),
  args: argList.optional(),
  env: z
    .record(
      z.string().regex(ENV_NAME, 'env names are letters, digits and "_", not starting with a digit'),
      z.string().max(LIMITS.envValueLength),
    )
    .refine((m) => Object.keys(m).length <= LIMITS.envMax, `at most ${LIMITS.envMax} variables`)
    .optional(),
  ports: z
    .array(z.number().int('ports are whole numbers').min(1, 'ports are 1-65535').max(65535, 'ports are 1-65535'))
    .max(LIMITS.portsMax)
    .refine((ports) => new Set(ports).size === ports.length, 'ports must not repeat')
    .optional(),
  resources: resourcesSchema.optional(),
  nodeSelector: labelMap.optional(),
  labels: labelMap.optional(),
  /** What happens when the pod's node is lost: Never leaves it Lost; the others place it again. */
  restartPolicy: z.enum(['Never', 'OnFailure', 'Always']).optional(),
  /** Claim a warm pod of this pool; the pod is the pool's template at its pinned digest. */
  pool: z.string().regex(POOL_NAME, 'pool names are lower-case DNS labels of at most 63 characters').optional(),
  /** Checkpoint the ready state and restore later pods of the same spec from it (rule 3). */
  checkpoint: checkpointSpecSchema.optional(),
  /** When the pod is ready: its ports are exposed and it turns Running only then. */
  readiness: readinessSpecSchema.optional(),
});

/** The body of `POST /v1/pods`. Unknown fields are refused, not ignored. */
export const podRequestSchema = podRequestFields.superRefine((req, ctx) => {
  for (const issue of readinessIssues(req)) ctx.addIssue({ code: 'custom', ...issue });
});
export type PodRequest = z.infer<typeof podRequestSchema>;

/** The normalised, process-shaping part of a pod, as stored and sent to nodes. */
export interface PodSpec {
  command: string[];
  args: string[];
  env: Record<string, string>;
  ports: number[];
  resources: Resources;
  nodeSelector: Record<string, string>;
  restartPolicy: RestartPolicy;
  /** As requested (defaults applied); whether it happens is the pod record's `checkpointing`. */
  checkpoint?: CheckpointSpec;
  /** As requested; what a start waits for is `podReadiness` (this, or the checkpoint condition). */
  readiness?: ReadinessSpec;
}

export type RestartPolicy = 'Never' | 'OnFailure' | 'Always';

export function normaliseSpec(req: PodRequest): PodSpec {
  return {
    command: req.command ?? [],
    args: req.args ?? [],
    env: req.env ?? {},
    ports: req.ports ?? [],
    resources: req.resources ?? DEFAULT_RESOURCES,
    nodeSelector: req.nodeSelector ?? {},
    restartPolicy: req.restartPolicy ?? 'Never',
    ...(req.checkpoint ? { checkpoint: req.checkpoint } : {}),
    ...(req.readiness ? { readiness: req.readiness } : {}),
  };
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** Turns validation issues into `{path, message}` pairs a client can act on. */
export function describeIssues(error: z.ZodError, root = ''): FieldProblem[] {
  const at = (segments: readonly PropertyKey[]) => [root, ...segments.map(String)].filter((p) => p !== '').join('.') || '(body)';
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown field' }));
    }
    if (issue.code === 'invalid_key') {
      // zod wraps key errors; the message written in the schema is inside.
      return [{ path: at(issue.path), message: issue.issues.map((i) => i.message).join('; ') }];
    }
    const message = issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required' : issue.message;
    return [{ path: at(issue.path), message }];
  });
}
