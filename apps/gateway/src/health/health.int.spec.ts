import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisServer } from '@warmpod/devkit';
import { call, closedPort, errorOf, startGateway, Traces, uniquePrefix, type ApiResponse, type TestGateway } from '../testing/harness';
import { startRegistry, type TestRegistry } from '../testing/registry';

const prefix = uniquePrefix('health');
let gateway: TestGateway;
let noRegistry: TestGateway;
let ownRedis: RedisServer;
let registry: TestRegistry;
let dir: string;
let traces: Traces;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wp-health-'));
  registry = await startRegistry(dir);
  // A Redis of this test's own: the test stops and restarts it.
  ownRedis = await RedisServer.start();
  gateway = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_REDIS_URL: ownRedis.url, WARMPOD_DEFAULT_REGISTRY: registry.host });
  noRegistry = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: `127.0.0.1:${await closedPort()}` });
  traces = new Traces(prefix);
});

after(async () => {
  await Promise.all([gateway?.close(), noRegistry?.close()]);
  await Promise.all([ownRedis?.close(), registry?.stop()]);
  await traces?.cleanUp();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Polls /readyz until it answers `status` (deadline 15 s); the last answer. */
async function readyzUntil(url: string, status: number): Promise<ApiResponse> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await call(url, 'GET', '/readyz', { token: null });
    if (res.status === status) return res;
    if (Date.now() > deadline) assert.fail(`/readyz stayed ${res.status} (${JSON.stringify(res.body)}), expected ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('probes', () => {
  test('/readyz is 200 with every check when Redis and the registry answer', async () => {
    const res = await readyzUntil(gateway.url, 200);
    assert.deepEqual(res.body, { status: 'ready', checks: { redis: true, registry: true } });
  });

  test('/readyz goes 503 while its Redis is stopped, /healthz stays 200, and readiness comes back with Redis', async () => {
    await ownRedis.stop();
    try {
      const down = await readyzUntil(gateway.url, 503);
      assert.equal(errorOf(down).code, 'not_ready');
      assert.equal(errorOf(down).message, 'not answering: redis');
      assert.equal((await call(gateway.url, 'GET', '/healthz', { token: null })).status, 200);
    } finally {
      await ownRedis.resume();
    }
    const back = await readyzUntil(gateway.url, 200);
    assert.deepEqual(back.body, { status: 'ready', checks: { redis: true, registry: true } });
  });

  test('/readyz is 503 naming the registry when the default registry does not answer', async () => {
    const res = await call(noRegistry.url, 'GET', '/readyz', { token: null });
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).message, 'not answering: registry');
    assert.equal((await call(noRegistry.url, 'GET', '/healthz', { token: null })).status, 200);
  });
});

describe('request ids', () => {
  test('a sane incoming X-Request-Id is kept and echoed', async () => {
    const res = await call(gateway.url, 'GET', '/healthz', { headers: { 'x-request-id': 'abc-123.x_y' } });
    assert.equal(res.headers.get('x-request-id'), 'abc-123.x_y');
  });

  test('an insane one is replaced by a fresh id, also on errors', async () => {
    const res = await call(gateway.url, 'GET', '/nowhere', { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });
});

describe('OpenAPI', () => {
  test('/docs/json describes the v1 API with bearer auth and the pod request schema', async () => {
    const res = await call(gateway.url, 'GET', '/docs/json', { token: null });
    assert.equal(res.status, 200);
    const doc = res.body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: {
        securitySchemes: Record<string, { scheme?: string }>;
        schemas: Record<string, { required?: string[]; additionalProperties?: unknown }>;
      };
    };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/v1/pods']?.['post'], 'POST /v1/pods');
    assert.ok(doc.paths['/v1/pods/{id}']?.['delete'], 'DELETE /v1/pods/{id}');
    assert.ok(doc.paths['/v1/nodes/{id}/cordon']?.['post'], 'POST /v1/nodes/{id}/cordon');
    assert.equal(Object.values(doc.components.securitySchemes)[0]?.scheme, 'bearer');
    assert.deepEqual(doc.components.schemas['PodRequest']?.required, ['image']);
    assert.equal(doc.components.schemas['PodRequest']?.additionalProperties, false);
  });

  test('/docs serves Swagger UI', async () => {
    const res = await fetch(`${gateway.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /swagger/i);
  });
});
