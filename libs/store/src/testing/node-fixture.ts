import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import type { Resources } from '@warmpod/domain';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import { NodeRepository, type CachedImage, type NodeRegistration } from '../node-repository';

/** Shared by the NodeRepository integration specs: real Redis, a fresh key prefix per test. */
export const REDIS = { ...redisOptions(), maxRetriesPerRequest: null };
export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;
export const DIGEST_C = `sha256:${'c'.repeat(64)}`;
export const LAYER = (c: string, sizeBytes: number) => ({ digest: `sha256:${c.repeat(64)}`, sizeBytes });
export const IMAGE_A: CachedImage = {
  digest: DIGEST_A,
  sizeBytes: 30_000_000_000,
  layers: [LAYER('1', 20_000_000_000), LAYER('2', 9_999_000_000)],
};
export const IMAGE_B: CachedImage = { digest: DIGEST_B, sizeBytes: 1_500, layers: [LAYER('1', 1_000)] };
export const IMAGE_C: CachedImage = { digest: DIGEST_C, sizeBytes: 99, layers: [] };

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
let counter = 0;
/** The spec's connection (a live binding: set by `useNodeStore`'s before hook). */
export let redis: Redis;

/** Opens the connection before the spec's tests and removes every key they wrote after them. */
export function useNodeStore(): void {
  before(() => {
    redis = new Redis(REDIS);
  });
  after(async () => {
    if (!redis) return;
    await dropKeys(redis, filePrefix);
    await redis.quit();
  });
}

export function sortImages<T extends { digest: string }>(images: T[]): T[] {
  return [...images].sort((x, y) => x.digest.localeCompare(y.digest));
}

export function scope(): { prefix: string; nodes: NodeRepository } {
  const prefix = `${filePrefix}${++counter}:`;
  return { prefix, nodes: new NodeRepository(redis, prefix) };
}

export function registration(id: string, capacity: Resources, over: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    id,
    labels: { zone: 'a', 'warmpod.dev/pool': 'default' },
    capacity,
    agentUrl: `http://127.0.0.1:7${id.length}00`,
    capabilities: { runtime: 'runc', criu: false, arch: 'x64' },
    ...over,
  };
}
