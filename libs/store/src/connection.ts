import { Redis } from 'ioredis';

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
  options: { autoPipelining?: boolean } = {},
): Redis {
  return new Redis(url, {
    connectionName: name,
    // Batches the commands of one event-loop turn into one write. Only for
    // plain commands and scripts: never hand such a connection to a BullMQ Worker.
    enableAutoPipelining: options.autoPipelining ?? false,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
}

/** Resolves when Redis answers PING, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await Promise.race([redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 1_000).unref())]);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis did not answer within ${timeoutMs} ms: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
