import { z } from 'zod';
import { checkpointSpecSchema, POD_PHASES, readinessSpecSchema, type PodRecord } from '@warmpod/domain';

/**
 * The pod record as stored: the immutable definition (JSON under
 * `pod:<id>:spec`) and the status hash (`pod:<id>`), each checked where it
 * is read. The shapes are structural: limits were applied at admission.
 */

const stringMap = z.record(z.string(), z.string());
const resourcesSchema = z.object({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number() });

export const podDefinitionSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  createdAt: z.string(),
  labels: stringMap,
  image: z.object({ requested: z.string(), pinned: z.string(), digest: z.string() }),
  spec: z.object({
    command: z.array(z.string()),
    args: z.array(z.string()),
    env: stringMap,
    ports: z.array(z.number()),
    resources: resourcesSchema,
    nodeSelector: stringMap,
    restartPolicy: z.enum(['Never', 'OnFailure', 'Always']),
    checkpoint: checkpointSpecSchema.optional(),
    readiness: readinessSpecSchema.optional(),
  }),
  /** Set on pods a warm pool started (see pool-pods.ts). */
  pool: z.string().optional(),
});

/** JSON held in a status field, checked against `schema`. */
const jsonField = <T>(schema: z.ZodType<T>) =>
  z.string().transform((raw, ctx): T => {
    try {
      const parsed = schema.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: parsed.error.message });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
    }
    return z.NEVER;
  });

/** Fields a transition clears hold ''; they read as absent. */
const present = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const statusSchema = z.object({
  phase: z.enum(POD_PHASES),
  node: present(z.string()),
  placement: present(
    jsonField(z.object({ node: z.string(), why: z.string(), candidates: z.number(), bytesToFetch: z.number().optional() })),
  ),
  startMode: present(z.enum(['cold', 'warm-cache', 'restored', 'fallback', 'warm-pool'])),
  message: present(z.string()),
  endpoints: present(jsonField(z.array(z.object({ containerPort: z.number(), address: z.string() })))),
  exitCode: present(z.coerce.number().int()),
  error: present(z.string()),
  restarts: present(z.coerce.number().int().nonnegative()),
  checkpointing: present(
    jsonField(
      z.discriminatedUnion('enabled', [
        z.object({ enabled: z.literal(true) }),
        z.object({ enabled: z.literal(false), code: z.enum(['not-requested', 'policy', 'multi-gpu', 'no-criu-node']), reason: z.string() }),
      ]),
    ),
  ),
  checkpoint: present(
    jsonField(z.object({ restoredFrom: z.string().optional(), taken: z.string().optional(), error: z.string().optional() })),
  ),
});

/** The status field holding when the pod became ready, beside the phases' `t:<Phase>`. */
export const READY_FIELD = 't:Ready';

/** The whole record; throws with the pod id when either half is not what warmpod writes. */
export function decodePod(id: string, specJson: string, status: Record<string, string>): PodRecord {
  let json: unknown;
  try {
    json = JSON.parse(specJson);
  } catch {
    throw new Error(`pod ${id}: the stored definition is not JSON`);
  }
  const def = podDefinitionSchema.safeParse(json);
  if (!def.success) throw new Error(`pod ${id}: stored definition: ${def.error.message}`);
  const s = statusSchema.safeParse(status);
  if (!s.success) throw new Error(`pod ${id}: stored status: ${s.error.message}`);
  const { pool, ...definition } = def.data;
  const st = s.data;
  const timeline: PodRecord['timeline'] = {};
  for (const phase of POD_PHASES) {
    const t = status[`t:${phase}`];
    if (t) timeline[phase] = t;
  }
  // Written with the Running transition by the agent (StatusPatch.readyAt).
  const ready = status[READY_FIELD] || undefined;
  if (ready) timeline.Ready = ready;
  return {
    ...definition,
    ...(pool !== undefined ? { pool } : {}),
    phase: st.phase,
    ...(st.node ? { node: st.node } : {}),
    ...(st.placement ? { placement: st.placement } : {}),
    ...(st.startMode ? { startMode: st.startMode } : {}),
    ...(st.message ? { message: st.message } : {}),
    timeline,
    ...(ready ? { ready } : {}),
    endpoints: st.endpoints ?? [],
    ...(st.exitCode !== undefined ? { exitCode: st.exitCode } : {}),
    ...(st.error ? { error: st.error } : {}),
    restarts: st.restarts ?? 0,
    ...(st.checkpointing ? { checkpointing: st.checkpointing } : {}),
    ...(st.checkpoint ? { checkpoint: st.checkpoint } : {}),
  };
}
