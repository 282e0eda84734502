import { z } from 'zod';
import { checkpointConditionSchema, type CheckpointCondition, type CheckpointSpec } from './checkpoint/checkpoint-spec';

/** Bounds of a pod's `readiness` section; a typo (seconds for ms, a threshold of 0) is refused. */
export const READINESS_LIMITS = {
  intervalMsMin: 10,
  intervalMsMax: 60_000,
  intervalMsDefault: 100,
  successThresholdMin: 1,
  successThresholdMax: 100,
  successThresholdDefault: 1,
  timeoutSecondsMin: 1,
  timeoutSecondsMax: 3600,
  timeoutSecondsDefault: 300,
} as const;

/** A checkpoint condition without `readiness` is the pod's readiness, probed as checkpoints always were. */
export const CHECKPOINT_READINESS = { intervalMs: 200, successThreshold: 3 } as const;

/**
 * When a pod counts as ready: its ports are exposed (and it turns Running)
 * only once `condition` held `successThreshold` probes in a row, `intervalMs`
 * apart; a pod not ready within `timeoutSeconds` fails with the reason.
 */
export const readinessSpecSchema = z
  .strictObject({
    condition: checkpointConditionSchema,
    intervalMs: z
      .number()
      .int('intervalMs must be a whole number of milliseconds')
      .min(READINESS_LIMITS.intervalMsMin, `intervalMs must be at least ${READINESS_LIMITS.intervalMsMin}`)
      .max(READINESS_LIMITS.intervalMsMax, `intervalMs must be at most ${READINESS_LIMITS.intervalMsMax} (one minute)`)
      .default(READINESS_LIMITS.intervalMsDefault),
    successThreshold: z
      .number()
      .int('successThreshold must be a whole number of probes')
      .min(READINESS_LIMITS.successThresholdMin, `successThreshold must be at least ${READINESS_LIMITS.successThresholdMin}`)
      .max(READINESS_LIMITS.successThresholdMax, `successThreshold must be at most ${READINESS_LIMITS.successThresholdMax}`)
      .default(READINESS_LIMITS.successThresholdDefault),
    timeoutSeconds: z
      .number()
      .int('timeoutSeconds must be a whole number of seconds')
      .min(READINESS_LIMITS.timeoutSecondsMin, `timeoutSeconds must be at least ${READINESS_LIMITS.timeoutSecondsMin}`)
      .max(READINESS_LIMITS.timeoutSecondsMax, `timeoutSeconds must be at most ${READINESS_LIMITS.timeoutSecondsMax} (one hour)`)
      .default(READINESS_LIMITS.timeoutSecondsDefault),
  })
  .superRefine((r, ctx) => {
    // zod runs this even when a field was refused; only sound fields are compared.
    if (!(r.timeoutSeconds >= READINESS_LIMITS.timeoutSecondsMin && r.intervalMs >= READINESS_LIMITS.intervalMsMin)) return;
    const timeoutMs = r.timeoutSeconds * 1000;
    if (r.intervalMs >= timeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['intervalMs'], message: `intervalMs (${r.intervalMs}) must be shorter than timeoutSeconds` });
    } else if ((r.successThreshold - 1) * r.intervalMs >= timeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['successThreshold'],
        message: `${r.successThreshold} probes ${r.intervalMs} ms apart cannot pass within timeoutSeconds (${r.timeoutSeconds} s)`,
      });
    }
  });

/** The section as normalised (defaults applied). */
export type ReadinessSpec = z.infer<typeof readinessSpecSchema>;

/** The readiness a pod's start waits for: its own, or its checkpoint condition (one mechanism), or none (ready at once). */
export function podReadiness(spec: {
  readiness?: ReadinessSpec | undefined;
  checkpoint?: CheckpointSpec | undefined;
}): ReadinessSpec | undefined {
  if (spec.readiness) return spec.readiness;
  const checkpoint = spec.checkpoint;
  if (!checkpoint?.enabled || !checkpoint.condition) return undefined;
  return { condition: checkpoint.condition, timeoutSeconds: checkpoint.timeoutSeconds, ...CHECKPOINT_READINESS };
}

/** What a human reads in a reason: `http :8080/healthz`, `tcp :5432`, `exec pg_isready`, `file /run/ready`. */
export function describeCondition(c: CheckpointCondition): string {
  switch (c.type) {
    case 'http':
      return `http :${c.port}${c.path}`;
    case 'tcp':
      return `tcp :${c.port}`;
    case 'exec':
      return `exec ${c.command[0] ?? ''}`;
    case 'file':
      return `file ${c.path}`;
  }
}

export interface ReadinessIssue {
  path: Array<string | number>;
  message: string;
}

/**
 * Cross-field rules of a pod's readiness (also a pool template's): a probed
 * port must be one the pod exposes, the condition is given once (readiness
 * or checkpoint), and checkpointing needs a condition to checkpoint at.
 */
export function readinessIssues(spec: {
  ports?: number[] | undefined;
  readiness?: { condition?: CheckpointCondition | undefined } | undefined;
  checkpoint?: { enabled: boolean; condition?: CheckpointCondition | undefined } | undefined;
}): ReadinessIssue[] {
  const issues: ReadinessIssue[] = [];
  const ports = spec.ports ?? [];
  const portIssue = (c: CheckpointCondition | undefined, at: string) => {
    // Undefined when zod refused the condition already (its refinements still run).
    if (c && (c.type === 'http' || c.type === 'tcp') && !ports.includes(c.port)) {
      issues.push({
        path: [at, 'condition', 'port'],
        message: `port ${c.port} is not one of the pod's ports (${ports.length ? ports.join(', ') : 'none'}); readiness decides when they are exposed`,
      });
    }
  };
  if (spec.readiness) portIssue(spec.readiness.condition, 'readiness');
  if (spec.checkpoint?.condition) {
    if (spec.readiness) {
      issues.push({
        path: ['checkpoint', 'condition'],
        message: 'the checkpoint is taken when the pod is ready: give the condition once, as readiness.condition',
      });
    } else portIssue(spec.checkpoint.condition, 'checkpoint');
  }
  if (spec.checkpoint?.enabled && !spec.checkpoint.condition && !spec.readiness) {
    issues.push({ path: ['checkpoint', 'condition'], message: 'condition is required when checkpointing is enabled (or give readiness)' });
  }
  return issues;
}
