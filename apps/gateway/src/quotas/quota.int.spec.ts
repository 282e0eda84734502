import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { Keys } from '@warmpod/store';
import { call, errorOf, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { RegistryGateway } from '../testing/registry-gateway';
import type { TestRegistry } from '../testing/registry';

/**
 * Quotas through the real gateway, real Redis and a real registry: a limit
 * raced by concurrent requests, refusals that name the quota and leave
 * nothing, and use that is given back exactly once.
 */
const prefix = uniquePrefix('quota');
const POD_LIMIT = 10;
const RACERS = 50;
const world = new RegistryGateway();
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;

const QUOTAS = {
  defaults: { pods: 5 },
  tenants: { alpha: { pods: POD_LIMIT, pins: 1, poolPods: 3 }, beta: { cpuMilli: 500 } },
};

const reportSchema = z.object({
  tenant: z.string(),
  quotas: z.record(z.string(), z.object({ limit: z.number(), used: z.number() })),
});

async function quota(token: string = TOKENS.alpha, query = ''): Promise<z.infer<typeof reportSchema>> {
  const res = await call(gateway.url, 'GET', `/v1/quota${query}`, { token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return reportSchema.parse(res.body);
}

const used = async (name: string, token?: string): Promise<number | undefined> => (await quota(token)).quotas[name]?.used;
const podKeys = async (): Promise<string[]> => traces.keys('pod:*');

before(async () => {
  ({ registry, gateway, traces } = await world.start('quota', prefix, { WARMPOD_QUOTAS: JSON.stringify(QUOTAS) }));
  await registry.push('team/app', 'latest', 'a');
  await registry.push('team/other', 'latest', 'b');
});

after(() => world.stop());

describe('pod quotas', () => {
  const admitted: string[] = [];

  test(`${RACERS} concurrent pod creations against a limit of ${POD_LIMIT}: exactly ${POD_LIMIT} admitted`, async (t) => {
    const results = await Promise.all(
      Array.from({ length: RACERS }, () => call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } })),
    );
    const statuses = results.map((r) => r.status);
    for (const r of results) if (r.status === 202) admitted.push(z.object({ id: z.string() }).parse(r.body).id);
    const refused = results.filter((r) => r.status === 403);
    assert.equal(refused.length + admitted.length, RACERS, `unexpected statuses: ${statuses.join(',')}`);
    assert.equal(admitted.length, POD_LIMIT);
    for (const r of refused) {
      assert.equal(errorOf(r).code, 'quota_exceeded');
      assert.deepEqual(errorOf(r).details, [{ path: 'quota.pods', message: `limit ${POD_LIMIT}, in use ${POD_LIMIT}, requested 1` }]);
    }
    // What is stored is what was admitted: records, and one scheduling job each.
    assert.equal((await traces.keys('pod:*:spec')).length, POD_LIMIT);
    assert.equal((await traces.scheduling.getJobCounts('waiting', 'delayed', 'active')).waiting, POD_LIMIT);
    assert.equal(await used('pods'), POD_LIMIT);
    t.diagnostic(`quota race: ${RACERS} requests, ${admitted.length} admitted, ${refused.length} refused, over-admitted 0`);
  });

  test('a refusal names the quota, its limit and use, and stores nothing', async () => {
    const before = await podKeys();
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' }, headers: { 'idempotency-key': 'over-1' } });
    assert.equal(res.status, 403);
    assert.match(errorOf(res).message, /pods quota .* limit 10, in use 10/);
    assert.deepEqual(await podKeys(), before);
    assert.deepEqual(await traces.keys('idem:*'), []);
  });

  test('a stopped pod gives its use back once; stopping it again gives nothing more', async () => {
    const [first] = admitted;
    assert.ok(first);
    const stop = await call(gateway.url, 'DELETE', `/v1/pods/${first}`);
    assert.equal(stop.status, 202);
    assert.equal(await used('pods'), POD_LIMIT - 1);
    assert.equal((await call(gateway.url, 'DELETE', `/v1/pods/${first}`)).status, 202);
    assert.equal(await used('pods'), POD_LIMIT - 1, 'a second stop released nothing');
    const again = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(await used('pods'), POD_LIMIT);
    assert.equal((await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } })).status, 403);
  });

  test('use is recomputed from the records: a pod whose record is gone no longer counts', async () => {
    const [, second] = admitted;
    assert.ok(second);
    const keys = new Keys(prefix);
    await traces.redis.del(keys.podSpec(second), keys.podStatus(second));
    assert.equal(await used('pods'), POD_LIMIT - 1);
  });

  test('CPU is checked in millicores, per tenant: beta is refused on cpuMilli, alpha is not charged for it', async () => {
    const ok = await call(gateway.url, 'POST', '/v1/pods', {
      token: TOKENS.beta,
      body: { image: 'team/app', resources: { cpu: 0.4, memoryMiB: 64 } },
    });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const over = await call(gateway.url, 'POST', '/v1/pods', {
      token: TOKENS.beta,
      body: { image: 'team/app', resources: { cpu: 0.2, memoryMiB: 64 } },
    });
    assert.equal(over.status, 403);
    assert.deepEqual(errorOf(over).details, [{ path: 'quota.cpuMilli', message: 'limit 500, in use 400, requested 200' }]);
    const beta = await quota(TOKENS.beta);
    assert.deepEqual(beta.quotas['pods'], { limit: 5, used: 1 });
    assert.deepEqual(beta.quotas['cpuMilli'], { limit: 500, used: 400 });
  });
});

describe('pin and pool quotas', () => {
  test('one pin allowed: a second reference is refused, re-pinning the same one is not, unpinning gives it back', async () => {
    const first = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/app' } });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const pinBytes = await used('pinBytes');
    assert.ok(pinBytes !== undefined && pinBytes > 0, 'the pin is charged the bytes of its image');
    const other = await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/other' } });
    assert.equal(other.status, 403);
    assert.equal(errorOf(other).details[0]?.path, 'quota.pins');
    assert.equal((await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/app' } })).status, 200);
    const id = z.object({ id: z.string() }).parse(first.body).id;
    assert.equal((await call(gateway.url, 'DELETE', `/v1/images/${id}`)).status, 204);
    assert.deepEqual([await used('pins'), await used('pinBytes')], [0, 0]);
    assert.equal((await call(gateway.url, 'POST', '/v1/images', { body: { image: 'team/other' } })).status, 201);
  });

  test('pool sizes count against poolPods: creating or growing past it is refused, draining gives it back', async () => {
    const pool = (name: string, size: number) => ({ name, image: 'team/app', size, podTemplate: {} });
    assert.equal((await call(gateway.url, 'POST', '/v1/pools', { body: pool('one', 2) })).status, 201);
    const second = await call(gateway.url, 'POST', '/v1/pools', { body: pool('two', 2) });
    assert.equal(second.status, 403);
    assert.deepEqual(errorOf(second).details, [{ path: 'quota.poolPods', message: 'limit 3, in use 2, requested 2' }]);
    assert.equal((await call(gateway.url, 'PATCH', '/v1/pools/one', { body: { size: 3 } })).status, 200);
    assert.equal((await call(gateway.url, 'PATCH', '/v1/pools/one', { body: { size: 4 } })).status, 403);
    assert.equal(await used('poolPods'), 3);
    assert.equal((await call(gateway.url, 'DELETE', '/v1/pools/one')).status, 202);
    assert.equal(await used('poolPods'), 0);
  });
});

describe('GET /v1/quota', () => {
  test("an operator reads any tenant's; a tenant only its own", async () => {
    const asOperator = await quota(TOKENS.operator, '?tenant=alpha');
    assert.equal(asOperator.tenant, 'alpha');
    assert.deepEqual(asOperator.quotas['pods'], (await quota()).quotas['pods']);
    const res = await call(gateway.url, 'GET', '/v1/quota?tenant=alpha', { token: TOKENS.beta });
    assert.equal(res.status, 404);
  });
});
