import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, closedPort, errorOf, startGateway, Traces, uniquePrefix, type TestGateway } from '../testing/harness';

const prefix = uniquePrefix('health');
let gateway: TestGateway;
let noRedis: TestGateway;
let traces: Traces;

before(async () => {
  gateway = await startGateway({ WARMPOD_PREFIX: prefix });
  // Redis "down": nothing listens on this port.
  noRedis = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_REDIS_URL: `redis://127.0.0.1:${await closedPort()}` });
  traces = new Traces(prefix);
});

after(async () => {
  await Promise.all([gateway?.close(), noRedis?.close()]);
  await traces?.cleanUp();
});

describe('probes', () => {
  test('/healthz answers while the process serves, Redis or not', async () => {
    for (const g of [gateway, noRedis]) {
      const res = await call(g.url, 'GET', '/healthz', { token: null });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok' });
    }
  });

  test('/readyz is 200 when Redis answers PING', async () => {
    const res = await call(gateway.url, 'GET', '/readyz', { token: null });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ready' });
  });

  test('/readyz is 503 with the reason when Redis does not answer', async () => {
    const res = await call(noRedis.url, 'GET', '/readyz', { token: null });
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).code, 'not_ready');
    assert.match(errorOf(res).message, /^redis: /);
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
