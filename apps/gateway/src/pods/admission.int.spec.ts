import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodRecord } from '@warmpod/domain';
import { JobBus } from '@warmpod/jobs';
import { PodBacklog, PodRepository } from '@warmpod/store';
import { call, errorOf, startGateway, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { RegistryGateway } from '../testing/registry-gateway';
import type { TestRegistry } from '../testing/registry';

const prefix = uniquePrefix('admission');
const world = new RegistryGateway();
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;
let digestA: string;

before(async () => {
  ({ registry, gateway, traces } = await world.start('admission', prefix));
  digestA = await registry.push('team/app', 'latest', 'a');
});

after(() => world.stop());

const pod = (res: { body: unknown }): PodRecord => res.body as PodRecord;

describe('POST /v1/pods pins at the door', () => {
  let first: PodRecord;

  test('answers 202 with the image pinned to the digest the registry serves', async () => {
    const res = await call(gateway.url, 'POST', '/v1/pods', {
      body: { image: 'team/app', labels: { app: 'web' } },
      headers: { 'x-request-id': 'req-admission-1' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.headers.get('x-request-id'), 'req-admission-1');
    first = pod(res);
    assert.match(first.id, /^pod-[0-9a-z]{20}$/);
    assert.equal(first.phase, 'Pending');
    assert.deepEqual(first.image, { requested: 'team/app', pinned: `${registry.host}/team/app@${digestA}`, digest: digestA });
    assert.deepEqual(first.labels, { app: 'web' });
  });

  test('enqueues one schedule-pod job carrying the request id', async () => {
    const job = await traces.scheduling.getJob(`schedule-pod-${first.id}`);
    assert.ok(job, 'schedule-pod job is in the scheduling queue');
    assert.equal(job.name, 'schedule-pod');
    assert.deepEqual(job.data, { podId: first.id, requestId: 'req-admission-1' });
  });

  test('binds the request id to log lines written after the body was parsed, and never logs the token', () => {
    const admitted = gateway.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'pod admitted' && l['podId'] === first.id);
    assert.equal(admitted?.['requestId'], 'req-admission-1');
    assert.equal(admitted?.['service'], 'gateway');
    const access = gateway.logLines.filter((l) => l.includes('"requestId":"req-admission-1"') && l.includes('"msg":"request"'));
    assert.equal(access.length, 1, 'one access log line per request');
    assert.match(access[0]!, /"method":"POST".*"status":202.*"ms":/);
    assert.equal(
      gateway.logLines.some((l) => l.includes(TOKENS.alpha)),
      false,
    );
  });

  test('a tag moved to new content pins new pods to the new digest; old pods keep theirs', async () => {
    const digestB = await registry.push('team/app', 'latest', 'b');
    assert.notEqual(digestB, digestA);
    const second = pod(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app:latest' } }));
    assert.equal(second.image.digest, digestB);
    assert.equal(second.image.pinned, `${registry.host}/team/app@${digestB}`);
    const again = await call(gateway.url, 'GET', `/v1/pods/${first.id}`);
    assert.equal(again.status, 200);
    assert.equal(pod(again).image.digest, digestA);
    assert.equal(pod(again).image.pinned, `${registry.host}/team/app@${digestA}`);
  });

  test('a reference by digest pins to exactly that digest', async () => {
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image: `${registry.host}/team/app@${digestA}` } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(pod(res).image.digest, digestA);
  });
});

describe('Idempotency-Key', () => {
  const body = { image: 'team/app', env: { A: '1', B: '2' }, resources: { cpu: 0.5, memoryMiB: 64 } };

  test('the same key and body replay the same pod; another body is a 409', async () => {
    const headers = { 'idempotency-key': 'idem-1' };
    const created = await call(gateway.url, 'POST', '/v1/pods', { body, headers });
    assert.equal(created.status, 202);
    assert.equal(created.headers.get('idempotent-replay'), null);
    const before = await traces.snapshot();

    // Same meaning, other key order: still the same request.
    const replay = await call(gateway.url, 'POST', '/v1/pods', {
      body: { resources: { memoryMiB: 64, cpu: 0.5 }, env: { B: '2', A: '1' }, image: 'team/app' },
      headers,
    });
    assert.equal(replay.status, 202);
    assert.equal(replay.headers.get('idempotent-replay'), 'true');
    assert.equal(pod(replay).id, pod(created).id);

    const conflict = await call(gateway.url, 'POST', '/v1/pods', { body: { ...body, env: { A: '9' } }, headers });
    assert.equal(conflict.status, 409);
    assert.equal(errorOf(conflict).code, 'idempotency_conflict');
    assert.deepEqual(await traces.snapshot(), before, 'a replay and a conflict store and enqueue nothing');
  });

  test('a replay of a pod whose admission died before it was queued queues it (no pod stays Pending without a job)', async () => {
    const headers = { 'idempotency-key': 'idem-died' };
    const created = pod(await call(gateway.url, 'POST', '/v1/pods', { body, headers }));
    // What a gateway killed between storing the pod and queueing it leaves: the record, no job.
    await (await traces.scheduling.getJob(`schedule-pod-${created.id}`))!.remove();
    const replay = await call(gateway.url, 'POST', '/v1/pods', { body, headers });
    assert.equal(replay.status, 202);
    assert.equal(pod(replay).id, created.id);
    const job = await traces.scheduling.getJob(`schedule-pod-${created.id}`);
    assert.equal(job?.data.podId, created.id, 'queued again by the replay');
  });

  test('keys are per tenant', async () => {
    const headers = { 'idempotency-key': 'idem-shared' };
    const a = await call(gateway.url, 'POST', '/v1/pods', { body, headers });
    const b = await call(gateway.url, 'POST', '/v1/pods', { body, headers, token: TOKENS.beta });
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.notEqual(pod(a).id, pod(b).id);
  });

  test('a malformed key is refused before anything happens', async () => {
    const before = await traces.snapshot();
    const res = await call(gateway.url, 'POST', '/v1/pods', { body, headers: { 'idempotency-key': 'bad key!' } });
    assert.equal(res.status, 400);
    assert.equal(errorOf(res).code, 'invalid_request');
    assert.equal(errorOf(res).details[0]?.path, 'headers.idempotency-key');
    assert.deepEqual(await traces.snapshot(), before);
  });
});

describe('tenancy, listing and stopping', () => {
  test("another tenant's pod is not found, not forbidden", async () => {
    const mine = pod(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } }));
    const theirs = await call(gateway.url, 'GET', `/v1/pods/${mine.id}`, { token: TOKENS.beta });
    assert.equal(theirs.status, 404);
    assert.equal(errorOf(theirs).code, 'not_found');
    const del = await call(gateway.url, 'DELETE', `/v1/pods/${mine.id}`, { token: TOKENS.beta });
    assert.equal(del.status, 404);
    const list = await call(gateway.url, 'GET', '/v1/pods', { token: TOKENS.beta });
    assert.equal(
      (list.body as { items: PodRecord[] }).items.some((p) => p.id === mine.id),
      false,
    );
  });

  test('unknown and malformed ids are 404', async () => {
    for (const id of ['pod-00000000000000000000', 'nope', '..%2Fetc']) {
      const res = await call(gateway.url, 'GET', `/v1/pods/${id}`);
      assert.equal(res.status, 404, id);
      assert.equal(errorOf(res).code, 'not_found');
    }
  });

  test('lists by phase and label, newest first', async () => {
    const res = await call(gateway.url, 'GET', '/v1/pods?phase=Pending&label=app=web&limit=10');
    assert.equal(res.status, 200);
    const items = (res.body as { items: PodRecord[] }).items;
    assert.ok(items.length >= 1);
    assert.ok(items.every((p) => p.phase === 'Pending' && p.labels['app'] === 'web'));
    const bad = await call(gateway.url, 'GET', '/v1/pods?phase=Sleeping');
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad).details[0]?.path, 'query.phase');
  });

  test('DELETE of a Pending pod stops it at once and withdraws its scheduling job', async () => {
    const created = pod(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } }));
    const res = await call(gateway.url, 'DELETE', `/v1/pods/${created.id}`);
    assert.equal(res.status, 202);
    assert.equal(pod(res).phase, 'Stopped');
    assert.ok(pod(res).timeline.Stopped);
    assert.equal(await traces.scheduling.getJob(`schedule-pod-${created.id}`), undefined);
    const again = await call(gateway.url, 'DELETE', `/v1/pods/${created.id}`);
    assert.equal(again.status, 202, 'stopping a stopped pod is a no-op');
    assert.equal(pod(again).phase, 'Stopped');
  });

  test('DELETE of a Pending pod waiting for room takes it out of the backlog too', async () => {
    const created = pod(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } }));
    const backlog = new PodBacklog(traces.redis, prefix);
    // What the scheduler writes when nothing fits.
    await backlog.add(created.id, `schedule-pod-${created.id}`);
    assert.equal((await call(gateway.url, 'DELETE', `/v1/pods/${created.id}`)).status, 202);
    assert.deepEqual((await backlog.page('0', 100)).entries, []);
  });
});

describe('a pod that cannot be queued', () => {
  class BrokenBus extends JobBus {
    override async toScheduler(): Promise<void> {
      throw new Error('queue is down');
    }
  }
  let broken: TestGateway;

  before(async () => {
    broken = await startGateway(
      { WARMPOD_PREFIX: prefix, WARMPOD_DEFAULT_REGISTRY: registry.host },
      { jobBus: (redis, p) => new BrokenBus(redis, p) },
    );
  });
  after(async () => broken?.close());

  test('is rolled back: 503 and no record, job or idempotency key left', async () => {
    const before = await traces.snapshot();
    const res = await call(broken.url, 'POST', '/v1/pods', { body: { image: 'team/app' }, headers: { 'idempotency-key': 'rolled-back' } });
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).code, 'queue_unavailable');
    assert.deepEqual(await traces.snapshot(), before);
    // The key is free again: the same request succeeds once the queue is back.
    const retry = await call(gateway.url, 'POST', '/v1/pods', {
      body: { image: 'team/app' },
      headers: { 'idempotency-key': 'rolled-back' },
    });
    assert.equal(retry.status, 202);
    assert.equal(retry.headers.get('idempotent-replay'), null);
    const stored = await new PodRepository(traces.redis, prefix).get(pod(retry).id);
    assert.equal(stored?.phase, 'Pending');
  });
});

describe('GET /v1/pods/{id}?wait=Ready: a bounded long poll', () => {
  const admit = async (): Promise<PodRecord> => pod(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } }));

  test('answers once the pod is ready (Running), with its ready time and Warmpod-Wait: ready', async () => {
    const admitted = await admit();
    const pods = new PodRepository(traces.redis, prefix);
    const waiting = call(gateway.url, 'GET', `/v1/pods/${admitted.id}?wait=Ready&timeoutSeconds=20`);
    // The agent's steps, as the store takes them; the wait sees none of them before Running.
    for (const phase of ['Scheduled', 'Starting'] as const) assert.equal((await pods.transition(admitted.id, phase)).applied, true);
    const readyAt = new Date().toISOString();
    assert.equal((await pods.transition(admitted.id, 'Running', { readyAt })).applied, true);
    const res = await waiting;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('warmpod-wait'), 'ready');
    assert.equal(pod(res).phase, 'Running');
    assert.equal(pod(res).ready, readyAt);
    assert.equal(pod(res).timeline.Ready, readyAt);
  });

  test('a pod that ends answers ended; one that is not ready in time answers its record with timeout', async () => {
    const ends = await admit();
    const waiting = call(gateway.url, 'GET', `/v1/pods/${ends.id}?wait=Ready`);
    await new PodRepository(traces.redis, prefix).transition(ends.id, 'Stopped');
    const ended = await waiting;
    assert.equal(ended.headers.get('warmpod-wait'), 'ended');
    assert.equal(pod(ended).phase, 'Stopped');

    const slow = await admit();
    const timedOut = await call(gateway.url, 'GET', `/v1/pods/${slow.id}?wait=Ready&timeoutSeconds=1`);
    assert.equal(timedOut.status, 200);
    assert.equal(timedOut.headers.get('warmpod-wait'), 'timeout');
    assert.equal(pod(timedOut).phase, 'Pending');
    const plain = await call(gateway.url, 'GET', `/v1/pods/${slow.id}`);
    assert.equal(plain.headers.get('warmpod-wait'), null, 'no wait asked, none reported');
  });

  test('a bad wait query is a 400 with its path; an unknown pod a 404 at once', async () => {
    const any = await admit();
    for (const [query, path] of [
      ['wait=Running', 'query.wait'],
      ['wait=Ready&timeoutSeconds=61', 'query.timeoutSeconds'],
      ['wait=Ready&timeoutSeconds=0', 'query.timeoutSeconds'],
      ['timeoutSeconds=5', 'query.timeoutSeconds'],
      ['wait=Ready&colour=red', 'query.colour'],
    ] as const) {
      const res = await call(gateway.url, 'GET', `/v1/pods/${any.id}?${query}`);
      assert.equal(res.status, 400, query);
      assert.deepEqual(
        errorOf(res).details.map((d) => d.path),
        [path],
        query,
      );
    }
    const missing = await call(gateway.url, 'GET', `/v1/pods/pod-${'0'.repeat(20)}?wait=Ready`);
    assert.equal(missing.status, 404);
  });
});
