import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NodeSessions, PullRepository } from '@warmpod/store';
import { call, errorOf, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { RegistryGateway } from '../testing/registry-gateway';
import type { TestRegistry } from '../testing/registry';
import type { PinResponse } from './pin-response';

const prefix = uniquePrefix('images');
const world = new RegistryGateway();
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;
let sessions: NodeSessions;
let pulls: PullRepository;
let digestV1: string;

const pinOf = (res: { body: unknown }): PinResponse => res.body as PinResponse;

function withoutTime(state: PinResponse['nodes'][number]): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...state };
  delete rest['updatedAt'];
  return rest;
}
const beta = { token: TOKENS.beta };

/** Keys a pin writes: the pin, tenant indexes, the active/superseded indexes. */
async function pinKeys(): Promise<string[]> {
  return [...(await traces.keys('pin:*')), ...(await traces.keys('tenant:*:pins')), ...(await traces.keys('pins:*'))];
}

async function register(id: string, labels: Record<string, string>): Promise<void> {
  await sessions.register(
    { id, labels, capacity: { cpu: 2, memoryMiB: 2048, gpu: 0 }, agentUrl: 'http://127.0.0.1:1', capabilities: {} },
    '',
  );
}

before(async () => {
  ({ registry, gateway, traces } = await world.start('images', prefix, { NODE_READY_WINDOW_MS: '600000' }));
  digestV1 = await registry.push('team/app', 'v1', 'a');
  sessions = new NodeSessions(traces.redis, prefix);
  pulls = new PullRepository(traces.redis, prefix);
  await register('n1', { zone: 'a' });
  await register('n2', { zone: 'b' });
});

after(() => world.stop());

describe('POST /v1/images pins a reference for warming', () => {
  let first: PinResponse;

  test('answers 201 with the reference resolved to its digest, normalised, and every target node queued', async () => {
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/app:v1' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    first = pinOf(res);
    assert.match(first.id, /^pin-[0-9a-z]{20}$/);
    assert.equal(first.tenant, 'alpha');
    assert.equal(first.requested, 'team/app:v1');
    assert.equal(first.reference, `${registry.host}/team/app:v1`);
    assert.equal(first.pinned, `${registry.host}/team/app@${digestV1}`);
    assert.equal(first.digest, digestV1);
    assert.equal(first.state, 'active');
    assert.deepEqual(first.nodeSelector, {});
    assert.deepEqual(
      first.nodes.map((n) => [n.node, n.state]),
      [
        ['n1', 'queued'],
        ['n2', 'queued'],
      ],
    );
    assert.equal(first.ready, 0);
    assert.ok(await traces.redis.get(`${prefix}image:${digestV1}`), 'image layers recorded for placement');
  });

  test('the same reference at the same digest, however written, answers 200 with the existing pin', async () => {
    for (const image of ['team/app:v1', `${registry.host}/team/app:v1`]) {
      const res = await call(gateway.url, 'POST', '/v1/images', { body: { image } });
      assert.equal(res.status, 200, image);
      assert.equal(pinOf(res).id, first.id);
    }
  });

  test('GET shows each node as its pull goes: pulling with bytes and layers, ready, failed with reason and attempts', async () => {
    await pulls.claim('n1', digestV1, first.pinned, { cluster: 10, perNode: 2 });
    await pulls.progress('n1', digestV1, { bytesDone: 300, bytesTotal: 1000, layersDone: 1, layersTotal: 3, attempt: 1 });
    await pulls.claim('n2', digestV1, first.pinned, { cluster: 10, perNode: 2 });
    await pulls.progress('n2', digestV1, { bytesDone: 0, bytesTotal: 1000, layersDone: 0, layersTotal: 3, attempt: 3 });
    await pulls.finish('n2', digestV1, { state: 'failed', reason: 'registry did not answer' });
    let pin = pinOf(await call(gateway.url, 'GET', `/v1/images/${first.id}`));
    assert.deepEqual(
      pin.nodes.map((n) => withoutTime(n)),
      [
        { node: 'n1', state: 'pulling', bytesDone: 300, bytesTotal: 1000, layersDone: 1, layersTotal: 3 },
        { node: 'n2', state: 'failed', reason: 'registry did not answer', attempts: 3 },
      ],
    );
    await pulls.finish('n1', digestV1, { state: 'ready' });
    pin = pinOf(await call(gateway.url, 'GET', `/v1/images/${first.id}`));
    assert.equal(pin.nodes[0]?.state, 'ready');
    assert.equal(pin.ready, 1);
  });

  test('a node selector narrows the target nodes', async () => {
    await registry.push('team/zonal', 'v1');
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/zonal:v1', nodeSelector: { zone: 'b' } } });
    assert.equal(res.status, 201);
    assert.deepEqual(pinOf(res).nodeSelector, { zone: 'b' });
    assert.deepEqual(
      pinOf(res).nodes.map((n) => n.node),
      ['n2'],
    );
  });

  test('re-pinning after a rebuild supersedes the old pin with the new digest', async () => {
    const digestV2 = await registry.push('team/app', 'v1', 'b');
    assert.notEqual(digestV2, digestV1);
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/app:v1' } });
    assert.equal(res.status, 201);
    const second = pinOf(res);
    assert.equal(second.digest, digestV2);
    assert.equal(second.pinned, `${registry.host}/team/app@${digestV2}`);
    assert.equal(second.supersedes, first.id);
    assert.equal(second.state, 'active');
    const old = pinOf(await call(gateway.url, 'GET', `/v1/images/${first.id}`));
    assert.equal(old.state, 'superseded');
    assert.equal(old.supersededBy, second.id);
    assert.equal(old.digest, digestV1, 'a pin never changes its digest');
    const list = (await call(gateway.url, 'GET', '/v1/images')).body as { items: PinResponse[] };
    assert.deepEqual(
      list.items.filter((p) => p.reference === `${registry.host}/team/app:v1`).map((p) => [p.id, p.state]),
      [
        [second.id, 'active'],
        [first.id, 'superseded'],
      ],
    );
  });

  test('a reference by digest is its own pin, known by its digest', async () => {
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: `team/app@${digestV1}` } });
    assert.equal(res.status, 201);
    assert.equal(pinOf(res).reference, `${registry.host}/team/app@${digestV1}`);
    assert.equal(pinOf(res).supersedes, undefined);
  });
});

describe('bad pin requests are refused and leave nothing behind', () => {
  const cases: Array<{ name: string; body: unknown; status: number; code: string; path?: string }> = [
    { name: 'an invalid reference', body: { image: 'Team/App:v1' }, status: 400, code: 'invalid_image_reference', path: 'image' },
    {
      name: 'a digest of the wrong length',
      body: { image: `team/app@sha256:${'a'.repeat(63)}` },
      status: 400,
      code: 'invalid_image_reference',
      path: 'image',
    },
    { name: 'a tag that does not exist', body: { image: 'team/app:nope' }, status: 422, code: 'image_not_found', path: 'image' },
    { name: 'a repository that does not exist', body: { image: 'team/ghost:v1' }, status: 422, code: 'image_not_found', path: 'image' },
    { name: 'a missing image', body: { nodeSelector: {} }, status: 400, code: 'invalid_request', path: 'image' },
    { name: 'an unknown field', body: { image: 'team/app:v1', colour: 'red' }, status: 400, code: 'invalid_request', path: 'colour' },
    {
      name: 'a selector value that is not a label value',
      body: { image: 'team/app:v1', nodeSelector: { zone: 'a b' } },
      status: 400,
      code: 'invalid_request',
      path: 'nodeSelector.zone',
    },
    { name: 'a body that is not an object', body: ['team/app:v1'], status: 400, code: 'invalid_request', path: '(body)' },
  ];
  for (const c of cases) {
    test(`${c.name} -> ${c.status} ${c.code}`, async () => {
      const before = await pinKeys();
      const res = await call(gateway.url, 'POST', '/v1/images', { body: c.body });
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      const error = errorOf(res);
      assert.equal(error.code, c.code);
      if (c.path)
        assert.ok(
          error.details.some((d) => d.path === c.path),
          JSON.stringify(error.details),
        );
      assert.deepEqual(await pinKeys(), before);
    });
  }

  test('without a token: 401', async () => {
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/app:v1' }, token: null });
    assert.equal(res.status, 401);
  });
});

describe('pins are per tenant', () => {
  let alphaPin: PinResponse;

  before(async () => {
    await registry.push('team/shared', 'v1');
    alphaPin = pinOf(await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/shared:v1' } }));
  });

  test('another tenant sees none of them, and reading or deleting one is 404', async () => {
    const list = (await call(gateway.url, 'GET', '/v1/images', beta)).body as { items: PinResponse[] };
    assert.deepEqual(list.items, []);
    const get = await call(gateway.url, 'GET', `/v1/images/${alphaPin.id}`, beta);
    assert.equal(get.status, 404);
    assert.equal(errorOf(get).code, 'not_found');
    assert.equal((await call(gateway.url, 'DELETE', `/v1/images/${alphaPin.id}`, beta)).status, 404);
    assert.equal((await call(gateway.url, 'GET', `/v1/images/${alphaPin.id}`)).status, 200, 'still there for its owner');
  });

  test('the same reference pinned by another tenant is its own pin and supersedes nothing', async () => {
    const res = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/shared:v1' }, ...beta });
    assert.equal(res.status, 201);
    assert.notEqual(pinOf(res).id, alphaPin.id);
    assert.equal(pinOf(res).supersedes, undefined);
    assert.equal(pinOf(await call(gateway.url, 'GET', `/v1/images/${alphaPin.id}`)).state, 'active');
  });

  test('unknown and malformed ids are 404', async () => {
    assert.equal((await call(gateway.url, 'GET', '/v1/images/pin-00000000000000000000')).status, 404);
    assert.equal((await call(gateway.url, 'GET', '/v1/images/..%2Fpod')).status, 404);
  });

  test('DELETE unpins: 204, then gone', async () => {
    const res = await call(gateway.url, 'DELETE', `/v1/images/${alphaPin.id}`);
    assert.equal(res.status, 204);
    assert.equal((await call(gateway.url, 'GET', `/v1/images/${alphaPin.id}`)).status, 404);
    const list = (await call(gateway.url, 'GET', '/v1/images')).body as { items: PinResponse[] };
    assert.equal(
      list.items.some((p) => p.id === alphaPin.id),
      false,
    );
    assert.equal((await call(gateway.url, 'DELETE', `/v1/images/${alphaPin.id}`)).status, 404);
  });
});

test('the OpenAPI document describes the images API', async () => {
  const doc = (await call(gateway.url, 'GET', '/docs/json', { token: null })).body as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, unknown> };
  };
  assert.deepEqual(Object.keys(doc.paths['/v1/images'] ?? {}).sort(), ['get', 'post']);
  assert.deepEqual(Object.keys(doc.paths['/v1/images/{id}'] ?? {}).sort(), ['delete', 'get']);
  assert.ok(doc.components.schemas['ImagePin']);
  assert.ok(doc.components.schemas['PinRequest']);
});
