import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { FuzzTally, fuzzRuns, keyContents } from '@warmpod/devkit';
import {
  anyJson,
  badAuthorization,
  badIdempotencyKey,
  badPinRequest,
  badPodRequest,
  badPoolPatch,
  badPoolRequest,
  notJson,
  otherContentType,
  type BadBody,
} from './testing/bad-bodies';
import { call, errorOf, startGateway, TOKENS, Traces, uniquePrefix, type ApiResponse, type TestGateway } from './testing/harness';
import { startRegistry, type TestRegistry } from './testing/registry';

/**
 * Bad input, generated (issue #12, item 6): fast-check properties over every
 * REST body and header the gateway takes. Each generated input must be
 * refused with a JSON 4xx naming the field, leave every key under the
 * gateway's prefix exactly as it was (records, indexes, idempotency keys,
 * queues), and the gateway keeps serving. Runs per property: lean here,
 * `WARMPOD_FUZZ_RUNS` for a long run (`npm run test:fuzz`).
 */
const RUNS = fuzzRuns(40);
const prefix = uniquePrefix('bad-input');
const tally = new FuzzTally();
let dir: string;
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;
let image: string;
/** Real resources of both tenants, so ids that exist (another tenant's) are tried too. */
const existing = { alphaPod: '', betaPod: '', betaPin: '', pool: 'fuzz-existing' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-bad-input-'));
  registry = await startRegistry(dir);
  await registry.push('team/app', 'v1');
  image = 'team/app:v1';
  // No rate limit: its buckets are the only keys a refused request may write.
  gateway = await startGateway({ WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: registry.host, GATEWAY_RATE_LIMIT_PER_SECOND: '0' });
  traces = new Traces(prefix);
  const created = async (path: string, body: unknown, token: string = TOKENS.alpha): Promise<{ id: string }> => {
    const res = await call(gateway.url, 'POST', path, { body, token });
    assert.ok(res.status === 201 || res.status === 202, `${path}: ${JSON.stringify(res.body)}`);
    return res.body as { id: string };
  };
  existing.alphaPod = (await created('/v1/pods', { image, labels: { app: 'a' } })).id;
  existing.betaPod = (await created('/v1/pods', { image }, TOKENS.beta)).id;
  existing.betaPin = (await created('/v1/images', { image }, TOKENS.beta)).id;
  await created('/v1/pools', { name: existing.pool, image, size: 1, podTemplate: {} });
});

after(async () => {
  for (const line of tally.lines()) process.stdout.write(`${line}\n`);
  await gateway?.close();
  await traces?.cleanUp();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const state = () => keyContents(traces.redis, prefix);

/** A refusal as the API promises it: JSON `{error: {code, message, details}}` with a 4xx. */
function assertRefused(res: ApiResponse, what: string): ReturnType<typeof errorOf> {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what);
  const error = errorOf(res);
  assert.equal(typeof error.code, 'string', what);
  assert.ok(error.message.length > 0, what);
  assert.ok(Array.isArray(error.details), what);
  return error;
}

/** A 400 whose details name `path` or a field below it. */
function assertNamesField(res: ApiResponse, bad: BadBody): void {
  const error = assertRefused(res, JSON.stringify(bad.body).slice(0, 300));
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.ok(
    error.details.some((d) => d.path === bad.path || d.path.startsWith(`${bad.path}.`)),
    `expected a detail at ${bad.path}: ${JSON.stringify(error.details)}`,
  );
}

/** Runs `check` for each generated input, then asserts Redis under the prefix is exactly as before. */
async function property<T>(t: TestContext, surface: string, arb: fc.Arbitrary<T>, check: (input: T) => Promise<void>): Promise<void> {
  const before = tally.get(surface);
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const was = await state();
      await check(input);
      assert.deepEqual(await state(), was, 'a refused request changed nothing in Redis');
      tally.add(surface);
    }),
    { numRuns: RUNS },
  );
  t.diagnostic(`${surface}: ${tally.get(surface) - before} generated inputs refused, nothing stored`);
}

describe('generated bad bodies are refused with the field path, nothing stored or queued', () => {
  test('POST /v1/pods: one bad or unknown field in a valid request', (t) =>
    property(t, 'POST /v1/pods body', badPodRequest('team/app:v1'), async (bad) =>
      assertNamesField(await call(gateway.url, 'POST', '/v1/pods', { body: bad.body }), bad),
    ));

  test('POST /v1/pods: any JSON value', (t) =>
    property(t, 'POST /v1/pods any JSON', anyJson, async (body) => {
      const res = await call(gateway.url, 'POST', '/v1/pods', { raw: JSON.stringify(body) });
      const error = assertRefused(res, JSON.stringify(body));
      assert.ok([400, 422].includes(res.status));
      assert.ok(error.code === 'invalid_json' || error.details.length > 0, JSON.stringify(error));
    }));

  test('POST /v1/images: one bad or unknown field', (t) =>
    property(t, 'POST /v1/images body', badPinRequest(image), async (bad) =>
      assertNamesField(await call(gateway.url, 'POST', '/v1/images', { body: bad.body }), bad),
    ));

  test('POST /v1/pools: one bad or unknown field', (t) =>
    property(t, 'POST /v1/pools body', badPoolRequest(image), async (bad) =>
      assertNamesField(await call(gateway.url, 'POST', '/v1/pools', { body: bad.body }), bad),
    ));

  test('PATCH /v1/pools/{name}: one bad or unknown field, on an existing pool', (t) =>
    property(t, 'PATCH /v1/pools body', badPoolPatch(), async (bad) =>
      assertNamesField(await call(gateway.url, 'PATCH', `/v1/pools/${existing.pool}`, { body: bad.body }), bad),
    ));

  test('every body route: text that is not JSON -> 400 invalid_json; another content type -> 415', (t) =>
    property(
      t,
      'raw bodies and content types',
      fc.tuple(
        fc.constantFrom('POST /v1/pods', 'POST /v1/images', 'POST /v1/pools', `PATCH /v1/pools/${existing.pool}`),
        notJson,
        fc.option(otherContentType),
      ),
      async ([route, raw, contentType]) => {
        const [method, path] = route.split(' ') as [string, string];
        const res = await call(gateway.url, method, path, { raw, ...(contentType ? { headers: { 'content-type': contentType } } : {}) });
        assertRefused(res, `${route} ${JSON.stringify(raw)} ${contentType}`);
        assert.equal(errorOf(res).code, contentType ? 'unsupported_media_type' : 'invalid_json');
        assert.equal(res.status, contentType ? 415 : 400);
      },
    ));
});

describe('generated bad headers', () => {
  test('Idempotency-Key: anything but 1-128 of [A-Za-z0-9._:-] is refused before anything is pinned or stored', (t) =>
    property(t, 'Idempotency-Key header', badIdempotencyKey, async (key) => {
      const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image }, headers: { 'idempotency-key': key } });
      assertNamesField(res, { body: {}, path: 'headers.idempotency-key' });
    }));

  test('Authorization: no known token -> 401 with a Bearer challenge, on every kind of route', (t) =>
    property(
      t,
      'Authorization header',
      fc.tuple(
        badAuthorization(Object.values(TOKENS)),
        fc.constantFrom(
          'POST /v1/pods',
          'GET /v1/pods',
          'POST /v1/images',
          'POST /v1/pools',
          'POST /v1/nodes/node-1/cordon',
          'DELETE /v1/checkpoints/ckpt-00000000000000000000',
          'DELETE /v1/pods/ALPHA',
        ),
      ),
      async ([authorization, route]) => {
        const [method, rawPath] = route.split(' ') as [string, string];
        const path = rawPath.replace('ALPHA', existing.alphaPod);
        const body = method === 'POST' ? { image, name: 'x', size: 1, podTemplate: {} } : undefined;
        const res = await call(gateway.url, method, path, {
          token: null,
          ...(body ? { body } : {}),
          ...(authorization !== null ? { headers: { authorization } } : {}),
        });
        assertRefused(res, `${route} ${authorization}`);
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      },
    ));

  test('X-Request-Id: any value is kept only when sane, else replaced; the request is served', (t) =>
    property(t, 'X-Request-Id header', fc.string({ minLength: 1, maxLength: 300, unit: 'binary-ascii' }), async (id) => {
      const sent = id.replace(/[\0-\x1f\x7f]/g, '').trim();
      if (sent === '') return;
      const res = await call(gateway.url, 'GET', '/v1/pods?limit=1', { headers: { 'x-request-id': sent } });
      assert.equal(res.status, 200);
      const echoed = res.headers.get('x-request-id') ?? '';
      assert.ok(echoed === sent || /^[0-9a-f-]{36}$/.test(echoed), `echoed ${echoed} for ${sent}`);
    }));
});

describe('generated ids and queries: 404 or 400, never another tenant, nothing changed', () => {
  const ids = fc.oneof(
    fc.string({ minLength: 1, maxLength: 80 }),
    fc.stringMatching(/^(pod|ckpt|pin)-[0-9a-z]{20}$/),
    fc.constantFrom('BETA_POD', 'BETA_PIN', '..', '.', '%2e%2e', 'node-1', 'fuzz-existing-2'),
  );
  const routes = [
    'GET /v1/pods/ID',
    'DELETE /v1/pods/ID',
    'POST /v1/pods/ID/checkpoint',
    'GET /v1/pods/ID/logs',
    'GET /v1/checkpoints/ID',
    'DELETE /v1/checkpoints/ID',
    'GET /v1/images/ID',
    'DELETE /v1/images/ID',
    'GET /v1/pools/ID',
    'DELETE /v1/pools/ID',
    'PATCH /v1/pools/ID',
    'POST /v1/nodes/ID/cordon',
    'POST /v1/nodes/ID/uncordon',
  ];

  test("path ids that do not exist, or are another tenant's", (t) =>
    property(t, 'path ids', fc.tuple(fc.constantFrom(...routes), ids), async ([route, rawId]) => {
      const id = rawId.replace('BETA_POD', existing.betaPod).replace('BETA_PIN', existing.betaPin);
      const [method, template] = route.split(' ') as [string, string];
      const path = template.replace('ID', encodeURIComponent(id));
      const res = await call(gateway.url, method, path, {
        ...(method === 'PATCH' ? { body: { size: 2 } } : {}),
        ...(template.startsWith('/v1/nodes') ? { token: TOKENS.operator } : {}),
      });
      assertRefused(res, `${method} ${path}`);
      assert.ok([400, 404].includes(res.status), `${method} ${path}: ${res.status}`);
    }));

  const queryValue = fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String), fc.constantFrom('0', '501', '-1', '1.5', 'Runnin'));
  test('list queries with a bad value or an unknown parameter', (t) =>
    property(
      t,
      'list queries',
      fc.tuple(
        fc.constantFrom('/v1/pods', '/v1/checkpoints', 'LOGS'),
        fc.constantFrom('phase', 'label', 'limit', 'state', 'pod', 'tail', 'unknown'),
        queryValue,
      ),
      async ([route, key, value]) => {
        const path = route === 'LOGS' ? `/v1/pods/${existing.alphaPod}/logs` : route;
        const res = await call(gateway.url, 'GET', `${path}?${new URLSearchParams({ [key]: value })}`);
        if (res.status === 200) return; // a value that happens to be valid (limit=5, phase=Running)
        assertRefused(res, `${path}?${key}=${value}`);
        assert.equal(res.status, 400);
        assert.ok(errorOf(res).details.some((d) => d.path.startsWith('query')));
      },
    ));
});

describe('the gateway is unharmed', () => {
  test('it still serves, and still admits a valid pod (the properties above were not vacuous)', async () => {
    assert.equal((await call(gateway.url, 'GET', '/healthz', { token: null })).status, 200);
    const before = await traces.snapshot();
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const afterwards = await traces.snapshot();
    assert.ok(afterwards.keys.length > before.keys.length);
    assert.equal(afterwards.jobs['waiting'], (before.jobs['waiting'] ?? 0) + 1);
    assert.ok(tally.get('POST /v1/pods body') >= RUNS);
  });
});
