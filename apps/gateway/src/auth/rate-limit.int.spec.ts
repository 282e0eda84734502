import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, errorOf, startGateway, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';

/** A bucket of 3 refilled at 2 per second, shared by two replicas on one prefix. */
const prefix = uniquePrefix('ratelimit');
const LIMIT = { GATEWAY_RATE_LIMIT_PER_SECOND: '2', GATEWAY_RATE_LIMIT_BURST: '3' };
let first: TestGateway;
let second: TestGateway;
let traces: Traces;

before(async () => {
  first = await startGateway({ WARMPOD_PREFIX: prefix, ...LIMIT });
  second = await startGateway({ WARMPOD_PREFIX: prefix, ...LIMIT });
  traces = new Traces(prefix);
});

after(async () => {
  await first?.close();
  await second?.close();
  await traces?.cleanUp();
});

test('a token past its burst gets 429 with Retry-After and the error shape, on every replica; others are unaffected', async () => {
  const statuses: number[] = [];
  for (const gateway of [first, second, first]) statuses.push((await call(gateway.url, 'GET', '/v1/pods')).status);
  assert.deepEqual(statuses, [200, 200, 200]);
  const limited = await call(second.url, 'GET', '/v1/pods');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '1');
  assert.deepEqual(errorOf(limited), { code: 'rate_limited', message: 'too many requests with this token; retry after 1 s', details: [] });
  assert.equal((await call(first.url, 'POST', '/v1/pods', { body: { image: 'x' } })).status, 429, 'refused before the body is looked at');

  assert.equal((await call(first.url, 'GET', '/v1/pods', { token: TOKENS.beta })).status, 200, 'another token has its own bucket');
  for (let i = 0; i < 5; i++) {
    // Probes are never rate limited (readiness may say 503 here: no registry answers this gateway's default).
    for (const path of ['/healthz', '/readyz', '/docs/json']) assert.notEqual((await call(first.url, 'GET', path)).status, 429, path);
  }

  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal((await call(first.url, 'GET', '/v1/pods')).status, 200, 'refilled at 2 per second');
});

test('buckets are keyed by a token id, never by the token, and expire once full again', async () => {
  await call(first.url, 'GET', '/v1/pods', { token: TOKENS.beta });
  await call(first.url, 'GET', '/v1/pods', { token: TOKENS.operator });
  const keys = await traces.keys('ratelimit:*');
  assert.ok(keys.length >= 2, keys.join(' '));
  for (const key of keys) {
    assert.match(key.slice(prefix.length), /^ratelimit:tok-[0-9a-f]{16}$/);
    for (const token of Object.values(TOKENS)) assert.equal(key.includes(token), false);
    const ttl = await traces.redis.pttl(key);
    assert.ok(ttl > 0 && ttl <= 2_500, `${key} expires in ${ttl} ms`);
  }
});
