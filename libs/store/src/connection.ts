import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { z } from 'zod';

export interface RedisSettings {
  url: string;
  /** Key prefix for every warmpod key; tests use their own to stay apart. */
  prefix: string;
}

/**
 * Connections follow BullMQ's production guide. Workers never give up on a
 * command (they block and must survive a Redis restart); producers answer
 * HTTP requests, so a command fails after one reconnect attempt instead of
 * hanging the request while Redis is away.
 */
export function connectRedis(
  url: string,
  name: string,
  role: 'worker' | 'producer' = 'worker',
  options: { autoPipelining?: boolean; tlsCaFile?: string | undefined } = {},
): Redis {
  // rediss:// turns TLS on; the operator's CA verifies Redis's certificate.
  return new Redis(url, {
    ...(options.tlsCaFile ? { tls: { ca: readCa(options.tlsCaFile) } } : {}),
    connectionName: name,
    // Batches the commands of one event-loop turn into one write. Only for
    // plain commands and scripts: never hand such a connection to a BullMQ Worker.
    enableAutoPipelining: options.autoPipelining ?? false,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`the Redis TLS CA file ${file} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Resolves when Redis answers PING and will not evict keys, or rejects after
 * `timeoutMs` (no answer) or at once (an evicting Redis: see assertNoEviction).
 */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await Promise.race([redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 1_000).unref())]);
      break;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`redis did not answer within ${timeoutMs} ms: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await assertNoEviction(redis);
}

const policyReply = z.tuple([z.literal('maxmemory-policy'), z.string()]);
const INFO_POLICY = /^maxmemory_policy:(\S+)\s*$/m;

/**
 * The eviction policy, as `INFO memory` says it (what BullMQ's own check
 * reads; the services' ACL users may run INFO but not CONFIG), else as
 * `CONFIG GET` says it; undefined when neither will.
 */
async function evictionPolicy(redis: Redis): Promise<string | undefined> {
  try {
    const fromInfo = INFO_POLICY.exec(await redis.info('memory'))?.[1];
    if (fromInfo) return fromInfo;
  } catch {
    // INFO refused or renamed: CONFIG may still answer.
  }
  try {
    const parsed = policyReply.safeParse(await redis.config('GET', 'maxmemory-policy'));
    return parsed.success ? parsed.data[1] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a Redis whose `maxmemory-policy` may evict keys: an evicted pod
 * record, reservation or queued job is lost silently (BullMQ's production
 * guide asks for `noeviction`). A Redis that will not say (INFO and CONFIG
 * renamed or refused, as on some managed services) is taken on trust:
 * resolves 'unknown'.
 */
export async function assertNoEviction(redis: Redis): Promise<'noeviction' | 'unknown'> {
  const policy = await evictionPolicy(redis);
  if (policy === undefined) return 'unknown';
  if (policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy}": it may evict warmpod's records, reservations and queued jobs; ` +
        'set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)',
    );
  }
  return 'noeviction';
}
