import { z } from 'zod';
import type { Resources } from '@warmpod/domain';
import { parseJson, type CachedImage } from './node-images';

export type { CachedImage, LayerInfo } from './node-images';

export interface GpuInfo {
  model: string;
  count: number;
}

export interface NodeCheckpoint {
  id: string;
  key: string;
  state: string;
  sizeBytes: number;
}

export interface NodeRegistration {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  /** Where the agent serves node-local reads (pod logs). */
  agentUrl: string;
  /** runtime, runcVersion, criuVersion, criuOk, criuReason, kernel, arch, cpuFlags (space-separated). */
  capabilities: Record<string, string | boolean>;
  gpus?: GpuInfo[];
}

export interface NodeRecord extends NodeRegistration {
  registeredAt: string;
  heartbeatAt: string;
  cordoned: boolean;
  allocated: Resources;
  cachedDigests: Array<{ digest: string; sizeBytes: number }>;
  // Always set by get(); optional only so that records built by hand elsewhere stay valid.
  cachedImages?: CachedImage[];
  runningPods?: string[];
  checkpoints?: NodeCheckpoint[];
  /** Usage as the agent last reported it (reservations are `allocated`). */
  reportedUsage?: Resources;
  /** When the last full inventory was applied. */
  inventoryAt?: string;
  /** The current agent session; a report carrying another one is refused. */
  sessionId?: string;
  /** Set when the node was declared lost; cleared when its agent registers again. */
  lostAt?: string;
  /** Set when the node started draining (it takes no new pods); the node is gone once its agent deregisters. */
  drainingAt?: string;
}

export const milli = (cores: number): number => Math.round(cores * 1000);

/** The registration fields as `registerNode-2.lua` stores them. */
export function registrationFields(node: NodeRegistration, nowIso: string): Record<string, string> {
  return {
    labels: JSON.stringify(node.labels),
    capCpuMilli: String(milli(node.capacity.cpu)),
    capMemoryMiB: String(node.capacity.memoryMiB),
    capGpu: String(node.capacity.gpu),
    agentUrl: node.agentUrl,
    capabilities: JSON.stringify(node.capabilities),
    gpus: JSON.stringify(node.gpus ?? []),
    registeredAt: nowIso,
    heartbeatAt: nowIso,
  };
}

const json = <T>(schema: z.ZodType<T>) =>
  z.string().transform((raw, ctx): T => {
    const parsed = parseJson(raw, schema);
    if (parsed === undefined) ctx.addIssue({ code: 'custom', message: 'not the JSON warmpod writes' });
    return parsed ?? z.NEVER;
  });
/** JSON a reader can do without: unreadable reads as absent. */
const optionalJson = <T>(schema: z.ZodType<T>) =>
  z
    .string()
    .optional()
    .transform((raw) => parseJson(raw, schema));
const integer = z.string().transform(Number).pipe(z.number().finite());

const checkpointsSchema = z.array(z.object({ id: z.string(), key: z.string(), state: z.string(), sizeBytes: z.number() }));

/** The fields of `node:<id>` placement reads (see NodeFactsReader). */
export const NODE_FACT_FIELDS = [
  'labels',
  'capCpuMilli',
  'capMemoryMiB',
  'capGpu',
  'capabilities',
  'cordoned',
  'heartbeatAt',
  'lostAt',
  'drainingAt',
  'checkpoints',
  'registeredAt',
  'imagesRev',
] as const;

const factsSchema = z.object({
  labels: json(z.record(z.string(), z.string())),
  capCpuMilli: integer,
  capMemoryMiB: integer,
  capGpu: integer,
  capabilities: json(z.record(z.string(), z.union([z.string(), z.boolean()]))),
  cordoned: z
    .string()
    .optional()
    .transform((c) => c === 'true'),
  heartbeatAt: z.string().min(1),
  lostAt: z.string().optional(),
  drainingAt: z.string().optional(),
  checkpoints: optionalJson(checkpointsSchema),
  registeredAt: z.string().optional(),
  imagesRev: z.string().optional(),
});

const recordSchema = factsSchema.extend({
  agentUrl: z.string(),
  registeredAt: z.string(),
  gpus: optionalJson(z.array(z.object({ model: z.string(), count: z.number() }))),
  runningPods: optionalJson(z.array(z.string())),
  reportedUsage: optionalJson(z.object({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number() })),
  inventoryAt: z.string().optional(),
  sessionId: z.string().optional(),
});

export type NodeFields = z.output<typeof factsSchema>;
export type NodeHash = z.output<typeof recordSchema>;

/** Null fields (HMGET of a missing field) read as absent. */
function present(raw: Record<string, string | null | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'string' && (v !== '' || k === 'agentUrl')) out[k] = v;
  return out;
}

/** Decodes the placement fields of a node hash; undefined when the node is not (fully) registered. */
export function decodeNodeFields(raw: Record<string, string | null | undefined>): NodeFields | undefined {
  const parsed = factsSchema.safeParse(present(raw));
  return parsed.success ? parsed.data : undefined;
}

/** Decodes a whole node hash (HGETALL); undefined when the node is not (fully) registered. */
export function decodeNodeHash(raw: Record<string, string>): NodeHash | undefined {
  const parsed = recordSchema.safeParse(present(raw));
  return parsed.success ? parsed.data : undefined;
}

export function capacityOf(fields: Pick<NodeFields, 'capCpuMilli' | 'capMemoryMiB' | 'capGpu'>): Resources {
  return { cpu: fields.capCpuMilli / 1000, memoryMiB: fields.capMemoryMiB, gpu: fields.capGpu };
}

/** Reserved totals from a `node:<id>:usage` hash (missing fields are 0). */
export function allocatedOf(usage: { cpuMilli?: string | null; memoryMiB?: string | null; gpu?: string | null }): Resources {
  return { cpu: Number(usage.cpuMilli ?? 0) / 1000, memoryMiB: Number(usage.memoryMiB ?? 0), gpu: Number(usage.gpu ?? 0) };
}

export function isReady(node: Pick<NodeRecord, 'heartbeatAt'>, readyWindowMs: number, now = Date.now()): boolean {
  return now - Date.parse(node.heartbeatAt) <= readyWindowMs;
}
