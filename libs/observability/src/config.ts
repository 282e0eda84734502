import { readFileSync } from 'node:fs';
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

/** A switch that is on unless set to `off` (only `on` and `off` are accepted). */
function onOff() {
  return z
    .enum(['on', 'off'], { error: 'on or off' })
    .default('on')
    .transform((v) => v === 'on');
}

/**
 * What every warmpod process is configured with, one rule each: the Redis it
 * shares with the others, the deployment's key and queue prefix (the same in
 * every process, so the same rule everywhere), its log level, and whether
 * it keeps metrics and writes events. Each app's schema extends this one.
 */
export const baseConfigSchema = z.object({
  WARMPOD_REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  WARMPOD_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and ":_.-", at most 64')
    .default('wp:'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** This service's own Redis ACL user; its password comes from a file (a mounted Secret), never the environment. */
  WARMPOD_REDIS_USERNAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits and "._-"')
    .optional(),
  WARMPOD_REDIS_PASSWORD_FILE: z.string().min(1).optional(),
  /** CA bundle (PEM) that signed Redis's certificate, for a rediss:// URL. */
  WARMPOD_REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /** `off`: no Prometheus metrics (nothing collected, `/metrics` answers 404). */
  WARMPOD_METRICS: onOff(),
  /** `off`: nothing is appended to the event log (SSE streams and the cluster page get no events); set alike in every service. */
  WARMPOD_EVENTS: onOff(),
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
  /** With this service's user and password in it when the deployment gives them. */
  redisUrl: string;
  /** CA bundle for TLS to Redis (the URL is then rediss://). */
  redisTlsCaFile?: string;
  /** Prefix of every Redis key and BullMQ queue of this deployment. */
  prefix: string;
  logLevel: string;
  /**
   * What this process spends on being watched: Prometheus metrics, and
   * event log writes (the pod scripts' and the pin, pool and checkpoint
   * events). Both on by default; `bench:start` measures them off.
   */
  observability: { metrics: boolean; events: boolean };
}

export function baseConfig(
  c: z.infer<typeof baseConfigSchema>,
  readText: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): BaseConfig {
  return {
    redisUrl: redisUrlWithCredentials(c, readText),
    ...(c.WARMPOD_REDIS_TLS_CA_FILE ? { redisTlsCaFile: c.WARMPOD_REDIS_TLS_CA_FILE } : {}),
    prefix: c.WARMPOD_PREFIX,
    logLevel: c.LOG_LEVEL,
    observability: { metrics: c.WARMPOD_METRICS, events: c.WARMPOD_EVENTS },
  };
}

/**
 * The Redis URL with the service's user and the password read from its file
 * (read once at boot: a new password takes a restart, as for any Secret
 * given by file). A user without a password, or a CA without rediss://, is
 * a configuration error rather than a surprise at the first command.
 */
function redisUrlWithCredentials(c: z.infer<typeof baseConfigSchema>, readText: (path: string) => string): string {
  const url = new URL(c.WARMPOD_REDIS_URL);
  if (c.WARMPOD_REDIS_TLS_CA_FILE && url.protocol !== 'rediss:')
    throw new ConfigError('WARMPOD_REDIS_TLS_CA_FILE is set but WARMPOD_REDIS_URL is not rediss://');
  if (c.WARMPOD_REDIS_USERNAME && !c.WARMPOD_REDIS_PASSWORD_FILE)
    throw new ConfigError('WARMPOD_REDIS_USERNAME needs WARMPOD_REDIS_PASSWORD_FILE (the password, from a Secret)');
  if (!c.WARMPOD_REDIS_PASSWORD_FILE) return c.WARMPOD_REDIS_URL;
  let password: string;
  try {
    password = readText(c.WARMPOD_REDIS_PASSWORD_FILE).replace(/\r?\n$/, '');
  } catch (error) {
    throw new ConfigError(
      `WARMPOD_REDIS_PASSWORD_FILE: cannot read ${c.WARMPOD_REDIS_PASSWORD_FILE}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!password) throw new ConfigError(`WARMPOD_REDIS_PASSWORD_FILE: ${c.WARMPOD_REDIS_PASSWORD_FILE} is empty`);
  if (c.WARMPOD_REDIS_USERNAME) url.username = encodeURIComponent(c.WARMPOD_REDIS_USERNAME);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * The cluster TLS material of a process that speaks inside the cluster
 * (scheduler, agent, gateway): PEM files issued by the cluster CA, re-read
 * every `WARMPOD_TLS_RELOAD_MS` so a rotation needs no restart. The CA file
 * may hold several CAs (old and new while the CA rotates).
 */
export const clusterTlsSchema = z.object({
  WARMPOD_TLS_CA_FILE: z.string().min(1, 'WARMPOD_TLS_CA_FILE is the cluster CA bundle (PEM)'),
  WARMPOD_TLS_CERT_FILE: z.string().min(1, "WARMPOD_TLS_CERT_FILE is this process's certificate (PEM)"),
  WARMPOD_TLS_KEY_FILE: z.string().min(1, "WARMPOD_TLS_KEY_FILE is this process's private key (PEM)"),
  WARMPOD_TLS_RELOAD_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
});

export interface ClusterTlsConfig {
  caFile: string;
  certFile: string;
  keyFile: string;
  reloadMs: number;
}

export function clusterTlsConfig(c: z.infer<typeof clusterTlsSchema>): ClusterTlsConfig {
  return {
    caFile: c.WARMPOD_TLS_CA_FILE,
    certFile: c.WARMPOD_TLS_CERT_FILE,
    keyFile: c.WARMPOD_TLS_KEY_FILE,
    reloadMs: c.WARMPOD_TLS_RELOAD_MS,
  };
}

/** The same files for a process that may run without them (the gateway: it then cannot read from agents). */
export const optionalClusterTlsSchema = clusterTlsSchema.partial({
  WARMPOD_TLS_CA_FILE: true,
  WARMPOD_TLS_CERT_FILE: true,
  WARMPOD_TLS_KEY_FILE: true,
});

/** The files when all three are set, undefined when none is; some of them is a configuration error. */
export function optionalClusterTlsConfig(c: z.infer<typeof optionalClusterTlsSchema>): ClusterTlsConfig | undefined {
  const { WARMPOD_TLS_CA_FILE: caFile, WARMPOD_TLS_CERT_FILE: certFile, WARMPOD_TLS_KEY_FILE: keyFile } = c;
  if (caFile && certFile && keyFile) return { caFile, certFile, keyFile, reloadMs: c.WARMPOD_TLS_RELOAD_MS };
  if (caFile || certFile || keyFile) {
    throw new ConfigError('WARMPOD_TLS_CA_FILE, WARMPOD_TLS_CERT_FILE and WARMPOD_TLS_KEY_FILE are set together or not at all');
  }
  return undefined;
}
