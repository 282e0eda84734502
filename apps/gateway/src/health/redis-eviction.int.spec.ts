import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServer } from '@warmpod/devkit';
import { call, errorOf, startGateway, uniquePrefix, type ApiResponse, type TestGateway } from '../testing/harness';
import { startRegistry, type TestRegistry } from '../testing/registry';

/** Polls /readyz until `done` holds (the gateway reconnects on its own time); the last answer. */
async function readyzUntil(gateway: TestGateway, done: (res: ApiResponse) => boolean): Promise<ApiResponse> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await call(gateway.url, 'GET', '/readyz', { token: null });
    if (done(res) || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Issue #12, item 3: like the other services, the gateway refuses a Redis
 * that may evict keys. A Redis of this test's own (its policy is set freely).
 */
describe('a Redis that may evict keys', () => {
  let dir: string;
  let server: RedisServer;
  let admin: Redis;
  let gateway: TestGateway | undefined;
  // Readiness also asks the default registry: one that answers, so only Redis decides here.
  let registry: TestRegistry;
  const prefix = uniquePrefix('eviction');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wp-gateway-evict-'));
    registry = await startRegistry(dir);
    server = await RedisServer.start({ dir, settings: { 'maxmemory-policy': 'allkeys-lru' } });
    admin = new Redis(server.url);
  });

  after(async () => {
    await gateway?.close();
    await registry?.stop();
    admin?.disconnect();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ WARMPOD_PREFIX: prefix, WARMPOD_REDIS_URL: server.url, WARMPOD_DEFAULT_REGISTRY: registry.host });

  test('stops the gateway at boot, with the policy and what to set', async () => {
    await assert.rejects(startGateway(env()), /maxmemory-policy is "allkeys-lru".*set maxmemory-policy noeviction/);
  });

  test('with noeviction it starts ready; a reconnection to an evicting Redis makes it not ready, with the reason', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    gateway = await startGateway(env());
    assert.equal((await call(gateway.url, 'GET', '/readyz', { token: null })).status, 200);

    // As after a failover to a server set up otherwise: the policy changes, the connection is re-made.
    await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const refused = await readyzUntil(gateway, (res) => res.status === 503 && /volatile-lru/.test(errorOf(res).message));
    assert.match(errorOf(refused).message, /^redis: Redis maxmemory-policy is "volatile-lru".*noeviction/);
    assert.ok(gateway.logLines.some((l) => l.includes('redis may evict keys')));

    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const res = await readyzUntil(gateway, (r) => r.status === 200);
    assert.equal(res.status, 200, 'ready again once the policy is safe');
  });
});
