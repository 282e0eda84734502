import { z } from 'zod';
import { NODE_ID, NODE_ID_RULE } from '@warmpod/domain';

/**
 * The node registry's messages as @grpc/proto-loader decodes them (camelCase
 * fields, int64 as number, defaults filled in, the oneof named in `body`),
 * with the zod schemas that every incoming message passes where it enters.
 */

const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Container ids in a node's runc root (pod ids, but a stray container must still be reportable). */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const CPU_FLAG = /^[A-Za-z0-9_.-]{1,64}$/;

export const REGISTRY_LIMITS = {
  cpuMax: 4096,
  memoryMibMax: 64 * 1024 * 1024,
  gpuMax: 64,
  labelsMax: 64,
  imagesMax: 20_000,
  layersMax: 1_000,
  podsMax: 10_000,
  checkpointsMax: 10_000,
  cpuFlagsMax: 1_024,
} as const;

const nodeId = z.string().regex(NODE_ID, `must be ${NODE_ID_RULE}`);
const sessionId = z
  .string()
  .min(1, 'is required')
  .regex(/^[A-Za-z0-9-]{1,128}$/, 'is not a session id');
const bytes = z.number().int('must be a whole number').min(0, 'must not be negative').max(Number.MAX_SAFE_INTEGER);
const count = z.number().int('must be a whole number').min(0, 'must not be negative');
const digest = z.string().regex(DIGEST, 'must be a sha256 digest (sha256:<64 hex>)');
const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
/** proto3 leaves an unset message field null (defaults: true): "required" means not null. */
const required = <T extends z.ZodType>(schema: T) => z.custom<unknown>((v) => v !== null && v !== undefined, 'is required').pipe(schema);

const capacity = z.object({
  cpu: z.number().gt(0, 'must be greater than 0').max(REGISTRY_LIMITS.cpuMax, `must be at most ${REGISTRY_LIMITS.cpuMax} cores`),
  memoryMib: z.number().int('must be a whole number of MiB').gt(0, 'must be greater than 0').max(REGISTRY_LIMITS.memoryMibMax),
  gpu: count.max(REGISTRY_LIMITS.gpuMax, `must be at most ${REGISTRY_LIMITS.gpuMax}`),
});

const usage = z.object({
  cpu: z.number().min(0, 'must not be negative').max(REGISTRY_LIMITS.cpuMax),
  memoryMib: count,
  gpu: count,
});

const gpuInfo = z.object({
  model: z.string().min(1, 'is required').max(128),
  count: z.number().int().min(1, 'must be at least 1').max(REGISTRY_LIMITS.gpuMax),
});

const capabilities = z.object({
  runtime: z.string().min(1, 'is required').max(64),
  runcVersion: text(128),
  criuVersion: text(128),
  criuOk: z.boolean(),
  criuReason: text(1024),
  // Decoding fills '' when an agent does not send it; optional so messages built in code may leave it out.
  criuMode: z.enum(['', 'breakpoints', 'no-breakpoints']).optional(),
  criuNetworkLock: z.enum(['', 'nftables', 'iptables']).optional(),
  kernel: text(256),
  arch: text(64),
  cpuFlags: z.array(z.string().regex(CPU_FLAG, 'is not a CPU flag')).max(REGISTRY_LIMITS.cpuFlagsMax),
});

const labels = z.record(z.string(), z.string()).superRefine((m, ctx) => {
  const entries = Object.entries(m);
  if (entries.length > REGISTRY_LIMITS.labelsMax) ctx.addIssue({ code: 'custom', message: `at most ${REGISTRY_LIMITS.labelsMax} labels` });
  for (const [key, value] of entries) {
    if (!LABEL_KEY.test(key))
      ctx.addIssue({ code: 'custom', path: [key], message: 'label keys are DNS-style names of at most 63 characters' });
    else if (!LABEL_VALUE.test(value))
      ctx.addIssue({ code: 'custom', path: [key], message: 'label values are at most 63 alphanumerics, "-", "_" or "."' });
  }
});

const agentUrl = z
  .string()
  .max(2048)
  .refine((u) => URL.canParse(u) && ['http:', 'https:'].includes(new URL(u).protocol), 'must be an http(s) URL');

export const registerRequestSchema = z
  .object({
    nodeId,
    labels,
    capacity: required(capacity),
    gpus: z.array(gpuInfo).max(16),
    capabilities: required(capabilities),
    agentUrl,
  })
  .superRefine((r, ctx) => {
    const gpus = r.gpus.reduce((sum, g) => sum + g.count, 0);
    if (r.gpus.length > 0 && gpus !== r.capacity.gpu) {
      ctx.addIssue({ code: 'custom', path: ['gpus'], message: `GPU counts add up to ${gpus}, capacity.gpu is ${r.capacity.gpu}` });
    }
  });

const layer = z.object({ digest, sizeBytes: bytes });
const cachedImage = z.object({ digest, sizeBytes: bytes, layers: z.array(layer).max(REGISTRY_LIMITS.layersMax) });
const checkpoint = z.object({
  id: z.string().min(1, 'is required').max(128),
  key: z.string().min(1, 'is required').max(512),
  state: z.string().min(1, 'is required').max(64),
  sizeBytes: bytes,
});
const images = z.array(cachedImage).max(REGISTRY_LIMITS.imagesMax);
const runningPods = z.array(z.string().regex(CONTAINER_ID, 'is not a container id')).max(REGISTRY_LIMITS.podsMax);
const checkpoints = z.array(checkpoint).max(REGISTRY_LIMITS.checkpointsMax);

const inventory = z.object({ images, runningPods, checkpoints, usage: usage.nullish() });
const delta = z.object({
  addedImages: images,
  removedImages: z.array(digest).max(REGISTRY_LIMITS.imagesMax),
  runningPods,
  checkpoints,
  usage: usage.nullish(),
});
const heartbeat = z.object({ sentAtMs: count });

const reportHead = { nodeId, sessionId };
export const nodeReportSchema = z.discriminatedUnion(
  'body',
  [
    z.object({ ...reportHead, body: z.literal('inventory'), inventory }),
    z.object({ ...reportHead, body: z.literal('delta'), delta }),
    z.object({ ...reportHead, body: z.literal('heartbeat'), heartbeat }),
  ],
  { error: 'a report carries one of inventory, delta or heartbeat' },
);

export const schedulerInstructionSchema = z.discriminatedUnion(
  'body',
  [
    z.object({ body: z.literal('ack'), ack: z.object({ receivedAtMs: count }) }),
    z.object({
      body: z.literal('stopPods'),
      stopPods: z.object({
        podIds: z.array(z.string().regex(CONTAINER_ID, 'is not a container id')).max(REGISTRY_LIMITS.podsMax),
        reason: text(1024),
      }),
    }),
  ],
  { error: 'an instruction carries one of ack or stopPods' },
);

export const deregisterRequestSchema = z.object({ nodeId, sessionId });

export const registerResponseSchema = z.object({ sessionId, heartbeatIntervalMs: z.number().int().min(50).max(600_000) });

export type ResourcesMessage = z.infer<typeof capacity>;
export type GpuInfoMessage = z.infer<typeof gpuInfo>;
export type CapabilitiesMessage = z.infer<typeof capabilities>;
export type LayerMessage = z.infer<typeof layer>;
export type CachedImageMessage = z.infer<typeof cachedImage>;
export type CheckpointMessage = z.infer<typeof checkpoint>;
export type RegisterRequest = z.infer<typeof registerRequestSchema>;
export type RegisterResponse = z.infer<typeof registerResponseSchema>;
export type DeregisterRequest = z.infer<typeof deregisterRequestSchema>;
export type InventoryMessage = z.infer<typeof inventory>;
export type InventoryDeltaMessage = z.infer<typeof delta>;
export type HeartbeatMessage = z.infer<typeof heartbeat>;
/** As received: the oneof case is in `body`. */
export type NodeReport = z.infer<typeof nodeReportSchema>;
export type SchedulerInstruction = z.infer<typeof schedulerInstructionSchema>;

/** What a sender writes: exactly one of the oneof fields set (`body` is implied). */
export type NodeReportOut = { nodeId: string; sessionId: string } & (
  { inventory: InventoryMessage } | { delta: InventoryDeltaMessage } | { heartbeat: HeartbeatMessage }
);
/** A report as the session writes it: the session stamps node and session ids. */
export type NodeReportBody = DistributiveOmit<NodeReportOut, 'nodeId' | 'sessionId'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type SchedulerInstructionOut = { ack: { receivedAtMs: number } } | { stopPods: { podIds: string[]; reason: string } };

/** The first problems of a failed parse, each with the path of its field: `capacity.cpu: must be greater than 0`. */
export function describeIssues(error: z.ZodError, max = 3): string {
  const lines = error.issues.slice(0, max).map((i) => `${fieldPath(i.path) || '(message)'}: ${i.message}`);
  const more = error.issues.length > max ? ` (and ${error.issues.length - max} more)` : '';
  return lines.join('; ') + more;
}

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)), '');
}
