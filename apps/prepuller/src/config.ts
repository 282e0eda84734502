import { z } from 'zod';
import { loadConfig } from '@warmpod/observability';

const schema = z.object({
  WARMPOD_REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  WARMPOD_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,32}$/).default('wp:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export function prepullerConfig(env: Record<string, string | undefined>) {
  const c = loadConfig(schema, env, 'prepuller');
  return { redisUrl: c.WARMPOD_REDIS_URL, prefix: c.WARMPOD_PREFIX, logLevel: c.LOG_LEVEL };
}
export type PrepullerConfig = ReturnType<typeof prepullerConfig>;
