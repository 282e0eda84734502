import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId, normaliseSpec } from '@warmpod/domain';
import { EventLog, PodRepository, type PodDefinition } from '@warmpod/store';
import { followerName, PodChanges } from './pod-changes';
import { call, errorOf, startGateway, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { SseClient } from '../testing/sse-client';

const prefix = uniquePrefix('events');
let gateway: TestGateway;
let traces: Traces;
let pods: PodRepository;
let log: EventLog;
const clients: SseClient[] = [];

before(async () => {
  gateway = await startGateway({ WARMPOD_PREFIX: prefix, EVENTS_HEARTBEAT_MS: '300', EVENTS_MAX_STREAMS_PER_TENANT: '3' });
  traces = new Traces(prefix);
  pods = new PodRepository(traces.redis, prefix);
  log = new EventLog(traces.redis, prefix);
});

after(async () => {
  for (const c of clients) c.close();
  await gateway?.close();
  await traces?.cleanUp();
});

/** A pod record as admission stores it (the scheduler's and agent's transitions are made below by hand). */
async function storedPod(tenant: string): Promise<PodDefinition> {
  const digest = `sha256:${'e'.repeat(64)}`;
  const def: PodDefinition = {
    id: newId('pod', Date.now()),
    tenant,
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'warmpod/sleeper:latest', pinned: `127.0.0.1:5000/warmpod/sleeper@${digest}`, digest },
    spec: normaliseSpec({ image: 'warmpod/sleeper:latest' }),
  };
  await pods.create(def);
  return def;
}

async function open(path: string, token: string, lastEventId?: string): Promise<SseClient> {
  const { client, status, body } = await SseClient.open(`${gateway.url}${path}`, token, lastEventId);
  assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
  clients.push(client);
  return client;
}

const phases = (c: SseClient) =>
  c
    .data()
    .filter((d) => d['kind'] === 'pod')
    .map((d) => d['phase']);

describe('GET /v1/pods/{id}/events', () => {
  test("a pod's history then its live phases; after a dropped connection, Last-Event-ID resumes with exactly what was missed", async () => {
    const pod = await storedPod('alpha');
    const first = await open(`/v1/pods/${pod.id}/events`, TOKENS.alpha);
    await first.until('Pending', (c) => phases(c).includes('Pending'));
    await pods.transition(pod.id, 'Scheduled', { node: 'node-a' });
    await first.until('Scheduled', (c) => phases(c).includes('Scheduled'));
    assert.deepEqual(first.data()[1], {
      kind: 'pod',
      resource: pod.id,
      tenant: 'alpha',
      phase: 'Scheduled',
      previous: 'Pending',
      node: 'node-a',
      at: first.data()[1]!['at'],
    });
    first.close();
    await first.until('closed', (c) => c.closed);

    // While nobody listens.
    await pods.transition(pod.id, 'Pulling');
    await pods.transition(pod.id, 'Starting');
    const resumed = await open(`/v1/pods/${pod.id}/events`, TOKENS.alpha, first.lastEventId);
    await resumed.until('Starting', (c) => phases(c).includes('Starting'));
    await pods.transition(pod.id, 'Running', { startMode: 'cold' });
    await resumed.until('Running', (c) => phases(c).includes('Running'));
    assert.deepEqual(phases(resumed), ['Pulling', 'Starting', 'Running'], 'nothing twice, nothing missed');
    assert.equal(resumed.data()[2]!['startMode'], 'cold');
    assert.ok(resumed.events.every((e) => e.event === 'pod' && e.id !== undefined));
  });

  test('heartbeats while nothing happens', async () => {
    const pod = await storedPod('alpha');
    const client = await open(`/v1/pods/${pod.id}/events`, TOKENS.alpha);
    await client.until('two heartbeats', (c) => c.comments >= 2);
    client.close();
  });

  test("another tenant's pod is 404; no token is 401", async () => {
    const pod = await storedPod('beta');
    assert.equal((await SseClient.open(`${gateway.url}/v1/pods/${pod.id}/events`, TOKENS.alpha)).status, 404);
    assert.equal((await call(gateway.url, 'GET', `/v1/pods/${pod.id}/events`, { token: null })).status, 401);
  });
});

describe('GET /v1/events', () => {
  test("a tenant sees its own pods and pins only; an operator sees every tenant's", async () => {
    const alpha = await open('/v1/events', TOKENS.alpha);
    const operator = await open('/v1/events', TOKENS.operator);
    const mine = await storedPod('alpha');
    const theirs = await storedPod('beta');
    await log.append('alpha', 'pin', 'pin-a', { state: 'active' });
    await pods.transition(mine.id, 'Scheduled');
    await alpha.until('alpha pod Scheduled', (c) => phases(c).includes('Scheduled'));
    await operator.until('both pods', (c) => c.data().some((d) => d['resource'] === theirs.id) && phases(c).includes('Scheduled'));
    assert.deepEqual(
      alpha.data().map((d) => [d['kind'], d['resource']]),
      [
        ['pod', mine.id],
        ['pin', 'pin-a'],
        ['pod', mine.id],
      ],
    );
    assert.ok(alpha.data().every((d) => d['tenant'] === 'alpha'));
    alpha.close();
    operator.close();
  });

  test("Last-Event-ID: not an id, or another tenant's, is a clear 400; trimmed resumes with a gap event", async () => {
    const bad = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.alpha, 'yesterday');
    assert.equal(bad.status, 400);
    assert.match(errorOf({ status: 400, body: bad.body, headers: new Headers() }).message, /"yesterday" is not an event id/);
    const betaEvent = await log.append('beta', 'pin', 'pin-b', {});
    const foreign = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.alpha, betaEvent);
    assert.equal(foreign.status, 400);
    assert.equal(errorOf({ status: 400, body: foreign.body, headers: new Headers() }).code, 'invalid_last_event_id');
    const future = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.alpha, `${Date.now() + 3_600_000}-0`);
    assert.equal(future.status, 400);
    const old = await open('/v1/events', TOKENS.alpha, '1-0');
    await old.until('gap', (c) => c.events.some((e) => e.event === 'gap'));
    assert.equal(old.events[0]!.event, 'gap');
    old.close();
  });

  test('too many open streams for one tenant is 429; closing one frees its slot', async () => {
    // Earlier tests' streams close asynchronously on the server: wait for their slots.
    const opened: SseClient[] = [];
    const deadline = Date.now() + 10_000;
    while (opened.length < 3) {
      const { client, status } = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.beta);
      if (status === 200) opened.push(client);
      else if (Date.now() > deadline) assert.fail(`stream ${opened.length + 1} refused with ${status}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
    clients.push(...opened);
    const refused = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.beta);
    assert.equal(refused.status, 429);
    assert.equal(errorOf({ status: 429, body: refused.body, headers: new Headers() }).code, 'too_many_streams');
    assert.equal((await SseClient.open(`${gateway.url}/v1/events`, TOKENS.alpha)).status, 200, 'another tenant is not limited by it');
    opened[0]!.close();
    const again = Date.now() + 10_000;
    for (;;) {
      const { client, status } = await SseClient.open(`${gateway.url}/v1/events`, TOKENS.beta);
      if (status === 200) {
        clients.push(client);
        break;
      }
      if (Date.now() > again) assert.fail('the closed stream never freed its slot');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('the OpenAPI document describes both streams', async () => {
    const doc = (await call(gateway.url, 'GET', '/docs/json', { token: null })).body as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    for (const path of ['/v1/events', '/v1/pods/{id}/events']) {
      const op = doc.paths[path]?.['get'];
      assert.ok(op, path);
      for (const status of ['200', '400', '429']) assert.ok(op.responses[status], `${path} ${status}`);
    }
  });
});

describe('PodChanges (what ?wait=Ready and the queue door wait on)', () => {
  test("a watcher of a pod wakes on the pod's next event, not on its timer", { timeout: 30_000 }, async () => {
    const changes = gateway.app.get(PodChanges);
    assert.equal(changes.live, true);
    const pod = await storedPod('alpha');
    const watch = changes.watch(pod.id);
    try {
      // Far beyond the test's own time limit: only the event can end this wait.
      const woke = watch.next(600_000);
      await pods.transition(pod.id, 'Scheduled', { node: 'node-a' });
      await woke;
      // A change between two waits is kept for the next one.
      await pods.transition(pod.id, 'Stopped', { message: 'bye' });
      await watch.next(600_000);
    } finally {
      watch.close();
    }
  });
});

/** Whether every follower connection of that name (at least `count`) is blocked in XREAD (CLIENT LIST flag b): waiting, not spinning. */
async function followersBlocked(name: string, count: number): Promise<boolean> {
  const list = String(await traces.redis.call('CLIENT', 'LIST', 'TYPE', 'normal'));
  const fields = list
    .split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)])))
    .filter((c) => c['name'] === name);
  return fields.length >= count && fields.every((c) => c['cmd'] === 'xread' && (c['flags'] ?? '').includes('b'));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a stream entry that is not a warmpod event (foreign or malformed)', () => {
  test(
    'is skipped, logged and counted once by id; the followers block again and later events still reach waiters and streams',
    { timeout: 60_000 },
    async () => {
      const changes = gateway.app.get(PodChanges);
      const pod = await storedPod('alpha');
      const operator = await open('/v1/events', TOKENS.operator);
      const alpha = await open(`/v1/events`, TOKENS.alpha);
      const watch = changes.watch(pod.id);
      try {
        await until('both followers waiting', () =>
          Promise.all([
            followersBlocked(followerName('pod-changes', prefix), 1),
            followersBlocked(followerName('event-stream', prefix), 2),
          ]).then((r) => r.every(Boolean)),
        );
        const all = log.streamOf({ kind: 'all' });
        const foreign = await traces.redis.xadd(all, '*', 'hello', 'world');
        const malformed = await traces.redis.xadd(
          log.streamOf({ kind: 'tenant', tenant: 'alpha' }),
          '*',
          'tenant',
          'alpha',
          'kind',
          'pod',
          'resource',
          pod.id,
          'data',
          '{not json',
        );
        assert.ok(foreign && malformed);
        const reported = (id: string) => gateway.logLines.filter((line) => line.includes(`"entry":"${id}"`));
        await until('both entries logged', () => reported(foreign).length > 0 && reported(malformed).length > 0);
        // Past the entries: each follower is back in a blocking read. One that stayed before them would re-read them at once, for ever, and never block.
        await until('the followers blocked again, past the entries', () =>
          Promise.all([
            followersBlocked(followerName('pod-changes', prefix), 1),
            followersBlocked(followerName('event-stream', prefix), 2),
          ]).then((r) => r.every(Boolean)),
        );
        const woke = watch.next(600_000);
        await pods.transition(pod.id, 'Scheduled', { node: 'node-a' });
        await woke;
        await operator.until('the later event', (c) => phases(c).includes('Scheduled'));
        await alpha.until('the later event', (c) => phases(c).includes('Scheduled'));
        assert.deepEqual(phases(alpha), ['Scheduled'], 'the malformed entry is not sent');
        assert.equal(reported(foreign).length, 1, 'logged once, though two followers met it');
        assert.equal(reported(malformed).length, 1);
        const metrics = String((await call(gateway.url, 'GET', '/metrics', { token: null })).body);
        const counted = [...metrics.matchAll(/^warmpod_event_entries_skipped_total\{reader="[a-z-]+"[^}]*\} (\d+)$/gm)].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
        assert.equal(
          counted,
          2,
          metrics
            .split('\n')
            .filter((l) => l.includes('skipped'))
            .join('\n'),
        );
      } finally {
        watch.close();
        operator.close();
        alpha.close();
      }
    },
  );
});
