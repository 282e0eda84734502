import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  baseConfig,
  baseConfigSchema,
  ConfigError,
  loadConfig,
  optionalClusterTlsConfig,
  optionalClusterTlsSchema,
  readyWindowSchema,
  type BaseConfig,
  type ClusterTlsConfig,
} from '@warmpod/observability';
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from '@warmpod/registry';
import { parseTokens, TokenError, type TokenGrant } from './auth/tokens';
import { DEFAULT_QUOTA_BOOK, parseQuotaBook, QuotaFileError, type QuotaBook } from './quotas/quota-book';
import { intakeConfigFrom, intakeConfigShape, type IntakeConfig } from './intake/intake-config';

const positiveInt = (fallback: number, max = 2 ** 31 - 1) => z.coerce.number().int().min(1).max(max).default(fallback);

const schema = baseConfigSchema.extend({
  ...readyWindowSchema.shape,
  // The gateway's client certificate (CN service:gateway) for node agents' APIs; without it pod logs cannot be read.
  ...optionalClusterTlsSchema.shape,
  GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  // 0 asks the OS for a free port (tests run the gateway in-process).
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  WARMPOD_TOKENS: z.string().min(1).optional(),
  WARMPOD_TOKENS_FILE: z.string().min(1).optional(),
  // Tenant quotas (quotas/quota-book.ts); neither: every tenant gets DEFAULT_QUOTA.
  WARMPOD_QUOTAS: z.string().min(1).optional(),
  WARMPOD_QUOTAS_FILE: z.string().min(1).optional(),
  WARMPOD_DEFAULT_REGISTRY: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, 'a registry host, with an optional port')
    .default('127.0.0.1:5000'),
  WARMPOD_INSECURE_REGISTRIES: z.string().default(''),
  /** The platform the nodes run (`os/arch[/variant]`): an image index is narrowed to it when layers are recorded. */
  WARMPOD_NODE_PLATFORM: z
    .string()
    .default(formatPlatform(hostPlatform()))
    .transform((text, ctx) => {
      const platform = parsePlatform(text);
      if (!platform) ctx.addIssue({ code: 'custom', message: 'a platform like linux/amd64 or linux/arm/v7' });
      return platform ?? z.NEVER;
    }),
  REGISTRY_TIMEOUT_MS: positiveInt(5_000, 120_000),
  AGENT_TIMEOUT_MS: positiveInt(5_000, 120_000),
  BODY_LIMIT_BYTES: positiveInt(65_536, 16 * 1024 * 1024),
  // Per token, shared by every replica (a token bucket in Redis). 0 turns the limit off.
  GATEWAY_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(100),
  GATEWAY_RATE_LIMIT_BURST: positiveInt(300, 1_000_000),
  // Server-Sent Events: a comment line this often keeps proxies from closing a quiet stream.
  EVENTS_HEARTBEAT_MS: positiveInt(15_000, 300_000),
  // Open event streams per tenant on one gateway replica; one more is 429.
  EVENTS_MAX_STREAMS_PER_TENANT: positiveInt(8, 10_000),
  ...intakeConfigShape,
});

export interface GatewayConfig extends BaseConfig {
  host: string;
  port: number;
  /** sha256 (hex) of each bearer token -> its tenant and role. Plain tokens are not kept. */
  tokens: ReadonlyMap<string, TokenGrant>;
  /** Each tenant's limits, set by the operator. */
  quotas: QuotaBook;
  /** Registry used when an image reference names none. */
  defaultRegistry: string;
  insecureRegistries: string[];
  /** Whose layers are recorded for placement when a pinned digest is an image index. */
  nodePlatform: Platform;
  registryTimeoutMs: number;
  /** How long the gateway waits for a node agent (pod logs). */
  agentTimeoutMs: number;
  /** Its cluster certificate for the agents' APIs (mutual TLS). */
  clusterTls?: ClusterTlsConfig;
  bodyLimitBytes: number;
  /** A node is Ready when it heartbeated within this window. */
  nodeReadyWindowMs: number;
  /** Requests per token: `perSecond` refill (0: no limit) into a bucket of `burst`. */
  rateLimit: { perSecond: number; burst: number };
  /** SSE: heartbeat period and open streams per tenant (per replica). */
  events: { heartbeatMs: number; maxStreamsPerTenant: number };
  /** The queue door (BullMQ intake queues per tenant). */
  intake: IntakeConfig;
}

export type ReadText = (path: string) => string;

/** The gateway's one view of its environment, validated once at boot. */
export function loadGatewayConfig(
  env: Record<string, string | undefined>,
  readText: ReadText = (path) => readFileSync(path, 'utf8'),
): GatewayConfig {
  const c = loadConfig(schema, env, 'gateway');
  const tokens = loadTokens(c.WARMPOD_TOKENS, c.WARMPOD_TOKENS_FILE, readText);
  const base = baseConfig(c, readText);
  const intake = intakeConfigFrom(c, {
    redisUrl: base.redisUrl,
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    tenants: new Set([...tokens.values()].map((g) => g.tenant)),
  });
  if (typeof intake === 'string') throw new ConfigError(`invalid configuration for gateway:\n  ${intake}`);
  return {
    ...base,
    host: c.GATEWAY_HOST,
    port: c.GATEWAY_PORT,
    tokens,
    quotas: loadQuotas(c.WARMPOD_QUOTAS, c.WARMPOD_QUOTAS_FILE, readText),
    defaultRegistry: c.WARMPOD_DEFAULT_REGISTRY,
    insecureRegistries: c.WARMPOD_INSECURE_REGISTRIES.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    nodePlatform: c.WARMPOD_NODE_PLATFORM,
    registryTimeoutMs: c.REGISTRY_TIMEOUT_MS,
    agentTimeoutMs: c.AGENT_TIMEOUT_MS,
    clusterTls: optionalClusterTlsConfig(c),
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    nodeReadyWindowMs: c.NODE_READY_WINDOW_MS,
    rateLimit: { perSecond: c.GATEWAY_RATE_LIMIT_PER_SECOND, burst: c.GATEWAY_RATE_LIMIT_BURST },
    events: { heartbeatMs: c.EVENTS_HEARTBEAT_MS, maxStreamsPerTenant: c.EVENTS_MAX_STREAMS_PER_TENANT },
    intake,
  };
}

function loadTokens(inline: string | undefined, file: string | undefined, readText: ReadText): Map<string, TokenGrant> {
  try {
    if (inline !== undefined) return parseTokens(inline, 'WARMPOD_TOKENS');
    if (file !== undefined) {
      let text: string;
      try {
        text = readText(file);
      } catch (error) {
        throw new TokenError(`WARMPOD_TOKENS_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      return parseTokens(text, 'WARMPOD_TOKENS_FILE');
    }
  } catch (error) {
    if (error instanceof TokenError) throw new ConfigError(`invalid configuration for gateway:\n  ${error.message}`);
    throw error;
  }
  throw new ConfigError('invalid configuration for gateway:\n  set WARMPOD_TOKENS or WARMPOD_TOKENS_FILE (at least one token is required)');
}

function loadQuotas(inline: string | undefined, file: string | undefined, readText: ReadText): QuotaBook {
  try {
    if (inline !== undefined) return parseQuotaBook(inline, 'WARMPOD_QUOTAS');
    if (file === undefined) return DEFAULT_QUOTA_BOOK;
    let text: string;
    try {
      text = readText(file);
    } catch (error) {
      throw new QuotaFileError(`WARMPOD_QUOTAS_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return parseQuotaBook(text, 'WARMPOD_QUOTAS_FILE');
  } catch (error) {
    if (error instanceof QuotaFileError) throw new ConfigError(`invalid configuration for gateway:\n  ${error.message}`);
    throw error;
  }
}
