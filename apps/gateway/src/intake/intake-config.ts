import { z } from 'zod';
import { TENANT_NAME } from '../auth/tokens';

const count = (fallback: number, max: number) => z.coerce.number().int().min(0).max(max).default(fallback);

/** The queue door's settings (see README "From a job queue"), part of the gateway's config. */
export const intakeConfigShape = {
  /** Tenants with an intake queue, comma-separated; empty: the queue door is off. Each must be a tenant some token names. */
  INTAKE_TENANTS: z.string().default(''),
  /** The consumer's own Redis user (an ACL user limited to the intake queues); default: the gateway's URL. */
  INTAKE_REDIS_URL: z.string().url().optional(),
  /** Per tenant, across replicas: run-pod jobs in flight (admitted, not yet at waitFor); the rest wait in the queue. */
  INTAKE_MAX_IN_FLIGHT: count(20, 10_000).pipe(z.number().min(1)),
  /** Per tenant: at most this many jobs start per INTAKE_RATE_DURATION_MS (BullMQ's rate limiter); 0 turns it off. */
  INTAKE_RATE_MAX: count(50, 1_000_000),
  INTAKE_RATE_DURATION_MS: count(1_000, 3_600_000).pipe(z.number().min(1)),
  /** Job data larger than this (JSON bytes) is refused; default the REST body limit. */
  INTAKE_DATA_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024)
    .optional(),
  /** How often a run-pod job re-reads its pod's phase when the event log is off (else its events wake it). */
  INTAKE_POLL_MS: count(200, 60_000).pipe(z.number().min(10)),
  /** How often the door looks for intake queues of tenants it does not serve (their jobs fail) and re-asserts its limits. */
  INTAKE_SWEEP_MS: count(5_000, 3_600_000).pipe(z.number().min(100)),
};

export interface IntakeConfig {
  tenants: string[];
  redisUrl: string;
  maxInFlight: number;
  rate: { max: number; durationMs: number };
  dataLimitBytes: number;
  pollMs: number;
  sweepMs: number;
}

type IntakeEnv = z.infer<z.ZodObject<typeof intakeConfigShape>>;

/** The door's config; a listed tenant that no token names is a configuration error (returned as a message). */
export function intakeConfigFrom(
  c: IntakeEnv,
  defaults: { redisUrl: string; bodyLimitBytes: number; tenants: ReadonlySet<string> },
): IntakeConfig | string {
  const tenants = [
    ...new Set(
      c.INTAKE_TENANTS.split(',')
        .map((t) => t.trim())
        .filter((t) => t !== ''),
    ),
  ];
  const bad = tenants.filter((t) => !TENANT_NAME.test(t) || !defaults.tenants.has(t));
  if (bad.length > 0) return `INTAKE_TENANTS: ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not a tenant any token names`;
  return {
    tenants,
    redisUrl: c.INTAKE_REDIS_URL ?? defaults.redisUrl,
    maxInFlight: c.INTAKE_MAX_IN_FLIGHT,
    rate: { max: c.INTAKE_RATE_MAX, durationMs: c.INTAKE_RATE_DURATION_MS },
    dataLimitBytes: c.INTAKE_DATA_LIMIT_BYTES ?? defaults.bodyLimitBytes,
    pollMs: c.INTAKE_POLL_MS,
    sweepMs: c.INTAKE_SWEEP_MS,
  };
}
