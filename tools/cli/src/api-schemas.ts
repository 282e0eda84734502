import { z } from 'zod';

/**
 * What the CLI reads of the gateway's answers (the OpenAPI document at
 * /docs/json describes them in full): every answer is validated here, and
 * fields the CLI does not show pass through untouched for `--output json`.
 */
export const podSchema = z.looseObject({
  id: z.string(),
  phase: z.string(),
  image: z.looseObject({ requested: z.string(), digest: z.string() }),
  node: z.string().optional(),
  startMode: z.string().optional(),
  createdAt: z.string(),
  endpoints: z.array(z.looseObject({ containerPort: z.number(), address: z.string() })).optional(),
  message: z.string().optional(),
  error: z.string().optional(),
  exitCode: z.number().optional(),
});
export type Pod = z.infer<typeof podSchema>;

const resources = z.looseObject({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number() });
export const nodeSchema = z.looseObject({
  id: z.string(),
  health: z.string(),
  cordoned: z.boolean(),
  capacity: resources,
  allocated: resources,
  cachedDigests: z.array(z.looseObject({ digest: z.string() })),
  runningPods: z.array(z.string()),
});

export const nodePullSchema = z.looseObject({
  node: z.string(),
  state: z.enum(['queued', 'pulling', 'ready', 'failed']),
  bytesDone: z.number().optional(),
  bytesTotal: z.number().optional(),
  reason: z.string().optional(),
});
export const pinSchema = z.looseObject({
  id: z.string(),
  reference: z.string(),
  digest: z.string(),
  state: z.string(),
  nodes: z.array(nodePullSchema),
  ready: z.number(),
});
export type Pin = z.infer<typeof pinSchema>;

export const poolSchema = z.looseObject({
  name: z.string(),
  state: z.string(),
  size: z.number(),
  ready: z.number(),
  image: z.looseObject({ requested: z.string(), digest: z.string() }),
});

export const checkpointSchema = z.looseObject({
  id: z.string(),
  pod: z.string(),
  node: z.string(),
  state: z.string(),
  sizeBytes: z.number(),
  createdAt: z.string(),
});

export const errorSchema = z.object({ error: z.looseObject({ code: z.string(), message: z.string() }) });

export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
