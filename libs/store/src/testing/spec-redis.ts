import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { dropKeys, redisOptions } from '@warmpod/devkit';

/**
 * Real Redis for a store integration spec: one connection, a key prefix of
 * the spec file's own and a fresh one under it per test, so each test can
 * list exactly its own keys. Test code only (not exported from the package).
 */
export const REDIS = { ...redisOptions(), maxRetriesPerRequest: null };

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
let counter = 0;
/** The spec's connection (a live binding: set by `useSpecRedis`'s before hook). */
export let redis: Redis;

/** Opens the connection before the spec's tests and removes every key they wrote after them. */
export function useSpecRedis(): void {
  before(() => {
    redis = new Redis(REDIS);
  });
  after(async () => {
    if (!redis) return;
    await dropKeys(redis, filePrefix);
    await redis.quit();
  });
}

/** A key prefix no other test of the file uses. */
export function freshPrefix(): string {
  return `${filePrefix}${++counter}:`;
}
