import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  call,
  closedPort,
  errorOf,
  startGateway,
  Traces,
  uniquePrefix,
  type ApiResponse,
  type CallOptions,
  type TestGateway,
} from '../testing/harness';
import { startRegistry, type TestRegistry } from '../testing/registry';

/**
 * Every way a POST /v1/pods can be refused. For each: the status, the error
 * code, the field path, and that the request left nothing behind.
 */
const prefix = uniquePrefix('rejections');
let dir: string;
let registry: TestRegistry;
let gateway: TestGateway;
let silentRegistry: TestGateway;
let deniedRegistry: TestGateway;
let denier: Server;
let traces: Traces;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-rejections-'));
  registry = await startRegistry(dir);
  await registry.push('team/app', 'v1');
  gateway = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: registry.host });
  // Nothing listens there: the registry "does not answer".
  silentRegistry = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: `127.0.0.1:${await closedPort()}` });
  // A registry that refuses everyone, as one would without credentials.
  denier = createServer((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end());
  await new Promise<void>((resolve) => denier.listen(0, '127.0.0.1', resolve));
  const { port } = denier.address() as { port: number };
  deniedRegistry = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: `127.0.0.1:${port}` });
  traces = new Traces(prefix);
});

after(async () => {
  await Promise.all([gateway?.close(), silentRegistry?.close(), deniedRegistry?.close()]);
  await new Promise((resolve) => (denier ? denier.close(resolve) : resolve(undefined)));
  await traces?.cleanUp();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Rejection {
  name: string;
  request: CallOptions;
  status: number;
  code: string;
  path?: string;
  message?: RegExp;
  target?: () => TestGateway;
}

const valid = { image: 'team/app:v1' };

const REJECTIONS: Rejection[] = [
  { name: 'malformed JSON', request: { raw: '{"image": "team/app:v1",' }, status: 400, code: 'invalid_json' },
  { name: 'an empty JSON body', request: { raw: '' }, status: 400, code: 'invalid_json' },
  { name: 'a body that is not an object', request: { body: ['team/app:v1'] }, status: 400, code: 'invalid_request', path: '(body)' },
  {
    name: 'an unknown top-level field',
    request: { body: { ...valid, colour: 'red' } },
    status: 400,
    code: 'invalid_request',
    path: 'colour',
    message: /unknown field/,
  },
  {
    name: 'a missing image',
    request: { body: { command: ['sh'] } },
    status: 400,
    code: 'invalid_request',
    path: 'image',
    message: /required/,
  },
  {
    name: 'an image with spaces',
    request: { body: { image: 'team/my app:v1' } },
    status: 400,
    code: 'invalid_image_reference',
    path: 'image',
  },
  {
    name: 'an upper-case repository',
    request: { body: { image: 'Team/App:v1' } },
    status: 400,
    code: 'invalid_image_reference',
    path: 'image',
    message: /upper-case/,
  },
  {
    name: 'a digest of the wrong length',
    request: { body: { image: `team/app@sha256:${'a'.repeat(63)}` } },
    status: 400,
    code: 'invalid_image_reference',
    path: 'image',
  },
  {
    name: 'cpu 0',
    request: { body: { ...valid, resources: { cpu: 0, memoryMiB: 64 } } },
    status: 400,
    code: 'invalid_request',
    path: 'resources.cpu',
  },
  {
    name: 'memoryMiB 10^12',
    request: { body: { ...valid, resources: { cpu: 1, memoryMiB: 1e12 } } },
    status: 400,
    code: 'invalid_request',
    path: 'resources.memoryMiB',
  },
  {
    name: 'an env value that is not a string',
    request: { body: { ...valid, env: { A: '1', B: 2 } } },
    status: 400,
    code: 'invalid_request',
    path: 'env.B',
  },
  { name: 'port 0', request: { body: { ...valid, ports: [0] } }, status: 400, code: 'invalid_request', path: 'ports.0' },
  { name: 'port 70000', request: { body: { ...valid, ports: [80, 70000] } }, status: 400, code: 'invalid_request', path: 'ports.1' },
  { name: 'a duplicated port', request: { body: { ...valid, ports: [80, 80] } }, status: 400, code: 'invalid_request', path: 'ports' },
  {
    name: 'a readiness condition on a port the pod does not expose',
    request: { body: { ...valid, ports: [8080], readiness: { condition: { type: 'http', port: 9090, path: '/healthz' } } } },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.condition.port',
    message: /port 9090 is not one of the pod's ports \(8080\)/,
  },
  {
    name: 'a readiness interval as long as its timeout',
    request: {
      body: { ...valid, ports: [8080], readiness: { condition: { type: 'tcp', port: 8080 }, intervalMs: 2000, timeoutSeconds: 2 } },
    },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.intervalMs',
  },
  {
    name: 'a readiness threshold that cannot pass within its timeout',
    request: {
      body: {
        ...valid,
        ports: [8080],
        readiness: { condition: { type: 'tcp', port: 8080 }, intervalMs: 1000, successThreshold: 20, timeoutSeconds: 10 },
      },
    },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.successThreshold',
  },
  {
    name: 'an exec readiness condition with an empty command',
    request: { body: { ...valid, readiness: { condition: { type: 'exec', command: [] } } } },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.condition.command',
  },
  { name: 'a tag that does not exist', request: { body: { image: 'team/app:nope' } }, status: 422, code: 'image_not_found', path: 'image' },
  {
    name: 'a repository that does not exist',
    request: { body: { image: 'team/ghost:v1' } },
    status: 422,
    code: 'image_not_found',
    path: 'image',
  },
  {
    name: 'a registry that does not answer',
    request: { body: valid },
    status: 503,
    code: 'registry_unavailable',
    target: () => silentRegistry,
  },
  {
    name: 'a registry that denies access',
    request: { body: valid },
    status: 422,
    code: 'image_access_denied',
    path: 'image',
    target: () => deniedRegistry,
  },
  { name: 'a missing token', request: { body: valid, token: null }, status: 401, code: 'unauthorized' },
  { name: 'a wrong token', request: { body: valid, token: 'not-a-known-token' }, status: 401, code: 'unauthorized' },
  {
    name: 'a malformed Authorization header',
    request: { body: valid, token: null, headers: { authorization: 'Basic dXNlcjpwdw==' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'a body over the size limit',
    request: { body: { ...valid, env: { BIG: 'x'.repeat(70_000) } } },
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'a body that is not JSON',
    request: { raw: 'image=team/app', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    status: 415,
    code: 'unsupported_media_type',
  },
];

describe('POST /v1/pods refuses, and leaves nothing behind', () => {
  for (const r of REJECTIONS) {
    test(`${r.name} -> ${r.status} ${r.code}`, async () => {
      const before = await traces.snapshot();
      const res: ApiResponse = await call((r.target?.() ?? gateway).url, 'POST', '/v1/pods', r.request);
      assert.equal(res.status, r.status, JSON.stringify(res.body));
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const error = errorOf(res);
      assert.equal(error.code, r.code);
      assert.equal(typeof error.message, 'string');
      assert.ok(Array.isArray(error.details));
      if (r.path)
        assert.ok(
          error.details.some((d) => d.path === r.path),
          `details name ${r.path}: ${JSON.stringify(error.details)}`,
        );
      if (r.message) assert.match(JSON.stringify(error), r.message);
      if (r.status === 401) assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(await traces.snapshot(), before, 'no pod keys and no scheduling jobs were added');
    });
  }

  test('the gateway still admits a valid request afterwards (the checks above are not vacuous)', async () => {
    const before = await traces.snapshot();
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: valid });
    assert.equal(res.status, 202);
    const afterwards = await traces.snapshot();
    assert.ok(afterwards.keys.length > before.keys.length);
    assert.equal(afterwards.jobs['waiting'], (before.jobs['waiting'] ?? 0) + 1);
  });
});

describe('errors outside POST', () => {
  test('an unknown route is a JSON 404', async () => {
    const res = await call(gateway.url, 'GET', '/v2/everything');
    assert.equal(res.status, 404);
    assert.equal(errorOf(res).code, 'not_found');
  });

  test('authenticated routes need a token; the probes and docs do not', async () => {
    for (const path of ['/v1/pods', '/v1/nodes']) {
      const res = await call(gateway.url, 'GET', path, { token: null });
      assert.equal(res.status, 401, path);
      assert.equal(errorOf(res).code, 'unauthorized');
    }
    for (const path of ['/healthz', '/readyz', '/docs', '/docs/json']) {
      assert.equal((await call(gateway.url, 'GET', path, { token: null })).status, 200, path);
    }
  });
});
