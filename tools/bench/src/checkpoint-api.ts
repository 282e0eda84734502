import { z } from 'zod';

/** What the checkpoint benchmark reads from the gateway and the node's log, validated. */
export const podSchema = z.object({
  id: z.string(),
  phase: z.string(),
  createdAt: z.string(),
  node: z.string().optional(),
  startMode: z.string().optional(),
  timeline: z.record(z.string(), z.string()),
  endpoints: z.array(z.object({ address: z.string() })),
  checkpoint: z.object({ restoredFrom: z.string().optional(), taken: z.string().optional(), error: z.string().optional() }).optional(),
});
export type Pod = z.infer<typeof podSchema>;

export const checkpointSchema = z.object({
  id: z.string(),
  state: z.string(),
  sizeBytes: z.number().optional(),
  createdAt: z.string(),
  updatedAt: z.string().optional(),
  /** Manifest digest of its OCI artifact, once pushed to the registry. */
  artifact: z.string().optional(),
  artifactBytes: z.number().optional(),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

const ms = z.number().optional();

/** The agent's `container restored` log line (RuncCheckpointer.restore): its steps, CRIU's phases among them. */
const restoredLineSchema = z.object({
  msg: z.literal('container restored'),
  podId: z.string(),
  runcMs: z.number(),
  /** Absent in logs of agents before the CPU quota was set after the restore. */
  resumeMs: ms,
  adoptMs: z.number(),
  criuKdatMs: ms,
  criuForkMs: ms,
  criuMountsMs: ms,
  criuTasksMs: ms,
  criuResumeMs: ms,
  criuTotalMs: ms,
});
export type AgentRestoreSteps = Omit<z.infer<typeof restoredLineSchema>, 'msg' | 'podId'>;

/** The restore steps the agent logged for each pod, from its log (JSON lines; other lines skipped). */
export function restoreStepsFromLog(log: string): Map<string, AgentRestoreSteps> {
  const found = new Map<string, AgentRestoreSteps>();
  for (const line of log.split('\n')) {
    if (!line.includes('"container restored"')) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = restoredLineSchema.safeParse(json);
    if (!parsed.success) continue;
    const { runcMs, resumeMs, adoptMs, criuKdatMs, criuForkMs, criuMountsMs, criuTasksMs, criuResumeMs, criuTotalMs } = parsed.data;
    const criu = { criuKdatMs, criuForkMs, criuMountsMs, criuTasksMs, criuResumeMs, criuTotalMs };
    const phases = Object.fromEntries(Object.entries(criu).filter(([, v]) => v !== undefined));
    found.set(parsed.data.podId, { runcMs, adoptMs, ...(resumeMs === undefined ? {} : { resumeMs }), ...phases });
  }
  return found;
}

/** The agent's `pod restore steps` line (PodStarter): its own steps around `runc restore`. */
const agentStepsSchema = z.object({
  fetchMs: z.number(),
  prepareMs: z.number(),
  unpackMs: z.number(),
  mountMs: z.number(),
  netnsMs: z.number(),
  verifyMs: z.number(),
  specMs: z.number(),
  runcRestoreMs: z.number(),
  readinessMs: z.number(),
  /** Probes until the restored pod answered (absent before the agent logged it). */
  readinessProbes: z.number().optional(),
  exposeMs: z.number(),
  recordMs: z.number(),
  runningMs: z.number(),
  totalMs: z.number(),
});
const agentStepsLineSchema = agentStepsSchema.extend({ msg: z.literal('pod restore steps'), podId: z.string() });
export type AgentSteps = z.infer<typeof agentStepsSchema>;

/** The agent's own restore steps for each pod, from its log (JSON lines; other lines skipped). */
export function agentStepsFromLog(log: string): Map<string, AgentSteps> {
  const found = new Map<string, AgentSteps>();
  for (const line of log.split('\n')) {
    if (!line.includes('"pod restore steps"')) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = agentStepsLineSchema.safeParse(json);
    // The object schema drops the line's other keys (msg, podId, pino's own).
    if (parsed.success) found.set(parsed.data.podId, agentStepsSchema.parse(parsed.data));
  }
  return found;
}
