/** Where the services look for Redis when `WARMPOD_REDIS_URL` is unset. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The Redis that tests, benchmarks and e2e clusters use: `WARMPOD_REDIS_URL`, as bootstrap.sh and the services read it. */
export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['WARMPOD_REDIS_URL'] || DEFAULT_REDIS_URL;
}

/** Where to reach Redis, in the shape both ioredis and BullMQ take as connection options. */
export interface RedisAddress {
  host: string;
  port: number;
  db?: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

/** The same Redis as connection options, for specs that spread them into connections of their own. */
export function redisOptions(url: string = redisUrl()): RedisAddress {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username !== '' && { username: decodeURIComponent(u.username) }),
    ...(u.password !== '' && { password: decodeURIComponent(u.password) }),
    ...(db !== '' && { db: Number(db) }),
    ...(u.protocol === 'rediss:' && { tls: {} }),
  };
}
