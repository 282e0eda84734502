import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullPrefix, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { connectRedis } from '@warmpod/store';
import { redisUrl } from '@warmpod/devkit';
import { hashToken } from '../auth/tokens';
import { loadGatewayConfig, type GatewayConfig } from '../config';
import { createGateway, type GatewayOverrides, type RunningGateway } from '../gateway';

export const REDIS_URL = redisUrl();
export const TOKENS = { alpha: 'alpha-token-0001', beta: 'beta-token-0002', operator: 'operator-token-0003' } as const;

/** The tokens file of the tests: two tenants and an operator (its tenant "ops"), the operator's given by hash. */
export function tokensJson(tokens: { alpha: string; beta: string; operator: string } = TOKENS): string {
  return JSON.stringify({
    [tokens.alpha]: { tenant: 'alpha', role: 'tenant' },
    [tokens.beta]: { tenant: 'beta', role: 'tenant' },
    [hashToken(tokens.operator)]: { tenant: 'ops', role: 'operator' },
  });
}

/** A key prefix no other test file (or run) shares. */
export function uniquePrefix(name: string): string {
  return `wptest-${name}-${process.pid}-${Date.now().toString(36)}:`;
}

export interface TestGateway extends RunningGateway {
  config: GatewayConfig;
  /** Every log line the gateway wrote, raw. */
  logLines: string[];
}

export async function startGateway(env: Record<string, string>, overrides: GatewayOverrides = {}): Promise<TestGateway> {
  const config = loadGatewayConfig({
    WARMPOD_REDIS_URL: REDIS_URL,
    GATEWAY_PORT: '0',
    WARMPOD_TOKENS: tokensJson(),
    LOG_LEVEL: 'debug',
    ...env,
  });
  const logLines: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const gateway = await createGateway(config, { logDestination, ...overrides });
  return { ...gateway, config, logLines };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, else the text. */
  body: unknown;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** A raw body, sent as is (malformed JSON, oversized bodies). */
  raw?: string;
  headers?: Record<string, string>;
}

/** One HTTP call, authenticated as alpha unless told otherwise. */
export async function call(base: string, method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> {
  const token = opts.token === undefined ? TOKENS.alpha : opts.token;
  const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}) };
  let body: string | undefined;
  if (opts.raw !== undefined || opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = opts.raw ?? JSON.stringify(opts.body);
  }
  const abort = new AbortController();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...opts.headers },
    ...(body !== undefined ? { body } : {}),
    signal: abort.signal,
  });
  const text = (res.headers.get('content-type') ?? '').startsWith('text/event-stream') ? await streamHead(res, abort) : await res.text();
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: res.status, headers: res.headers, body: json && text !== '' ? (JSON.parse(text) as unknown) : text };
}

/**
 * An event stream never ends by itself: its head, up to the first heartbeat
 * (the server sends one only once the backlog is written, so the head holds
 * the whole backlog), then the connection is dropped.
 */
async function streamHead(res: Response, abort: AbortController, timeoutMs = 10_000): Promise<string> {
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of res.body ?? []) {
      text += decoder.decode(chunk, { stream: true });
      if (/^: heartbeat$/m.test(text)) return text;
    }
  } catch {
    // aborted: reported below
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`event stream ${res.url}: no heartbeat within ${timeoutMs} ms (set EVENTS_HEARTBEAT_MS low in tests); got ${text}`);
}

/** The `{error}` of an error response, typed for assertions. */
export function errorOf(res: ApiResponse): { code: string; message: string; details: Array<{ path: string; message: string }> } {
  return (res.body as { error: ReturnType<typeof errorOf> }).error;
}

/** Watches what a request leaves behind: pod keys and scheduling jobs under one prefix. */
export class Traces {
  readonly redis: Redis;
  readonly scheduling: Queue;

  constructor(readonly prefix: string) {
    this.redis = connectRedis(REDIS_URL, 'gateway-test');
    this.scheduling = new Queue(SCHEDULING_QUEUE, { connection: this.redis, prefix: bullPrefix(prefix) });
  }

  async keys(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}${pattern}`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found.sort();
  }

  /** Pod records, tenant indexes and idempotency keys, plus every scheduling job. */
  async snapshot(): Promise<{ keys: string[]; jobs: Record<string, number> }> {
    const keys = [...(await this.keys('pod:*')), ...(await this.keys('tenant:*')), ...(await this.keys('idem:*'))];
    const jobs = await this.scheduling.getJobCounts();
    return { keys, jobs };
  }

  /** Deletes every key of the prefix, BullMQ's included, and closes. */
  async cleanUp(): Promise<void> {
    const keys = await this.keys('*');
    for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
    await this.scheduling.close();
    await this.redis.quit();
  }
}

/** A loopback port nothing listens on (bound, then released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
