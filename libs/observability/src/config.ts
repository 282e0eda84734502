import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates an environment against an app's schema, once, at boot. The only
 * place an app reads `process.env` is the call site of this function.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>, app: string): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration for ${app}:\n${lines.join('\n')}`);
  }
  return result.data;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * What every warmpod process is configured with, one rule each: the Redis it
 * shares with the others, the deployment's key and queue prefix (the same in
 * every process, so the same rule everywhere), and its log level. Each app's
 * schema extends this one.
 */
export const baseConfigSchema = z.object({
  WARMPOD_REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  WARMPOD_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and ":_.-", at most 64')
    .default('wp:'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/**
 * The ready window, for the processes that judge a node's readiness from its
 * heartbeat (gateway, scheduler, prepuller): they must agree on it. The
 * default (40 s, the kubelet's node-monitor grace period) outlasts an agent
 * restart, so a DaemonSet upgrade is not a node loss: the chaos run saw an
 * agent restart take 24 s on a loaded machine, and the former 6 s declared
 * the node lost and ended its pods.
 */
export const readyWindowSchema = z.object({
  NODE_READY_WINDOW_MS: z.coerce.number().int().min(500).max(3_600_000).default(40_000),
});

export interface BaseConfig {
  redisUrl: string;
  /** Prefix of every Redis key and BullMQ queue of this deployment. */
  prefix: string;
  logLevel: string;
}

export function baseConfig(c: z.infer<typeof baseConfigSchema>): BaseConfig {
  return { redisUrl: c.WARMPOD_REDIS_URL, prefix: c.WARMPOD_PREFIX, logLevel: c.LOG_LEVEL };
}
