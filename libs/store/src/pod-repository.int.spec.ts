import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId, normaliseSpec } from '@warmpod/domain';
import { NodeRepository } from './node-repository';
import { NodeReservations } from './node-reservations';
import { NodeSessions } from './node-sessions';
import { PodRepository, type PodDefinition } from './pod-repository';
import { keysUnder } from '@warmpod/devkit';
import { freshPrefix, redis, useSpecRedis } from './testing/spec-redis';

const DIGEST = `sha256:${'c'.repeat(64)}`;

/** A fresh prefix per test, under the file's prefix, so each test can list exactly its own keys. */
function scope(): { prefix: string; pods: PodRepository; nodes: NodeRepository; sessions: NodeSessions; reservations: NodeReservations } {
  const prefix = freshPrefix();
  return {
    prefix,
    pods: new PodRepository(redis, prefix),
    nodes: new NodeRepository(redis, prefix),
    sessions: new NodeSessions(redis, prefix),
    reservations: new NodeReservations(redis, prefix),
  };
}

function podDef(tenant: string, createdAt = new Date()): PodDefinition {
  return {
    id: newId('pod', createdAt.getTime()),
    tenant,
    createdAt: createdAt.toISOString(),
    labels: { app: 'web', tier: 'front' },
    image: {
      requested: 'team/web:latest',
      pinned: `registry.local:5000/team/web@${DIGEST}`,
      digest: DIGEST,
    },
    spec: normaliseSpec({
      image: 'team/web:latest',
      command: ['/bin/httpd'],
      args: ['-f', '-p', '8080'],
      env: { MODE: 'prod', EMPTY: '' },
      ports: [8080],
      resources: { cpu: 0.25, memoryMiB: 64, gpu: 0 },
      nodeSelector: { zone: 'a' },
    }),
  };
}

useSpecRedis();

describe('PodRepository on real Redis', () => {
  test('create then get returns every field, Pending, with its timeline', async () => {
    const { pods, prefix } = scope();
    const def = podDef('acme');
    assert.deepEqual(await pods.create(def), { kind: 'created', podId: def.id });
    assert.deepEqual(await pods.get(def.id), {
      ...def,
      phase: 'Pending',
      timeline: { Pending: def.createdAt },
      endpoints: [],
      restarts: 0,
    });
    assert.deepEqual(await keysUnder(redis, prefix), [
      'events:all',
      `events:pod:${def.id}`,
      'events:tenant:acme',
      `pod:${def.id}`,
      `pod:${def.id}:spec`,
      'tenant:acme:pods',
    ]);
  });

  test('an unknown pod is undefined', async () => {
    const { pods } = scope();
    assert.equal(await pods.get(newId('pod')), undefined);
  });

  test('the same pod id twice is refused', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    await assert.rejects(pods.create({ ...def, tenant: 'other' }), { message: `pod id ${def.id} already exists` });
    assert.equal((await pods.get(def.id))?.tenant, 'acme');
  });

  test('idempotency: same key and hash replays the first pod, another hash conflicts, neither stores anything', async () => {
    const { pods, prefix } = scope();
    const first = podDef('acme');
    assert.deepEqual(await pods.create(first, { key: 'key-1', bodyHash: 'hash-a' }), { kind: 'created', podId: first.id });
    const stored = await keysUnder(redis, prefix);
    assert.deepEqual(stored, [
      'events:all',
      `events:pod:${first.id}`,
      'events:tenant:acme',
      `idem:acme:key-1`,
      `pod:${first.id}`,
      `pod:${first.id}:spec`,
      'tenant:acme:pods',
    ]);
    const ttl = await redis.ttl(`${prefix}idem:acme:key-1`);
    assert.ok(ttl > 24 * 3600 - 60 && ttl <= 24 * 3600, `idempotency ttl ${ttl}`);

    const again = podDef('acme');
    assert.deepEqual(await pods.create(again, { key: 'key-1', bodyHash: 'hash-a' }), { kind: 'replay', podId: first.id });
    const other = podDef('acme');
    assert.deepEqual(await pods.create(other, { key: 'key-1', bodyHash: 'hash-b' }), { kind: 'conflict', podId: first.id });

    assert.deepEqual(await keysUnder(redis, prefix), stored);
    assert.equal(await pods.get(again.id), undefined);
    assert.equal(await pods.get(other.id), undefined);
    assert.deepEqual(
      (await pods.listByTenant('acme', 10)).map((p) => p.id),
      [first.id],
    );
  });

  test('idempotency keys belong to a tenant', async () => {
    const { pods } = scope();
    const a = podDef('acme');
    const b = podDef('globex');
    assert.equal((await pods.create(a, { key: 'shared', bodyHash: 'h' })).kind, 'created');
    assert.deepEqual(await pods.create(b, { key: 'shared', bodyHash: 'h' }), { kind: 'created', podId: b.id });
  });

  test('remove deletes the pod, its index entry and its idempotency key', async () => {
    const { pods, prefix } = scope();
    const keep = podDef('acme');
    await pods.create(keep, { key: 'keep', bodyHash: 'h' });
    const before = await keysUnder(redis, prefix);
    const def = podDef('acme');
    await pods.create(def, { key: 'key-r', bodyHash: 'h' });
    await pods.annotate(def.id, { message: 'still pending' });
    await pods.transition(def.id, 'Scheduled', { node: 'n1' });
    await pods.remove(def, 'key-r');
    assert.deepEqual(await keysUnder(redis, prefix), before);
    assert.equal(await pods.get(def.id), undefined);
    // The key is free again: a new request with it creates a new pod.
    const next = podDef('acme');
    assert.deepEqual(await pods.create(next, { key: 'key-r', bodyHash: 'h' }), { kind: 'created', podId: next.id });
  });

  test('remove leaves an idempotency key that points at another pod', async () => {
    const { pods, prefix } = scope();
    const owner = podDef('acme');
    await pods.create(owner, { key: 'key-o', bodyHash: 'h' });
    const stranger = podDef('acme');
    await pods.create(stranger);
    await pods.remove(stranger, 'key-o');
    assert.deepEqual(await keysUnder(redis, prefix), [
      'events:all',
      `events:pod:${owner.id}`,
      'events:tenant:acme',
      `idem:acme:key-o`,
      `pod:${owner.id}`,
      `pod:${owner.id}:spec`,
      'tenant:acme:pods',
    ]);
    assert.deepEqual(await pods.create(podDef('acme'), { key: 'key-o', bodyHash: 'h' }), { kind: 'replay', podId: owner.id });
  });

  test('transitions follow the phase rules and report the previous phase', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    assert.deepEqual(await pods.transition(def.id, 'Running'), { applied: false, previous: 'Pending' });
    assert.deepEqual(await pods.transition(def.id, 'Scheduled'), { applied: true, previous: 'Pending' });
    assert.deepEqual(await pods.transition(def.id, 'Scheduled'), { applied: false, previous: 'Scheduled' });
    assert.deepEqual(await pods.transition(def.id, 'Pending'), { applied: false, previous: 'Scheduled' });
    assert.deepEqual(await pods.transition(def.id, 'Stopped'), { applied: true, previous: 'Scheduled' });
    for (const to of ['Running', 'Failed', 'Pending', 'Scheduled'] as const) {
      assert.deepEqual(await pods.transition(def.id, to), { applied: false, previous: 'Stopped' }, to);
    }
    assert.equal((await pods.get(def.id))?.phase, 'Stopped');
    assert.deepEqual(await pods.transition(newId('pod'), 'Scheduled'), { applied: false, previous: undefined });
  });

  test('a refused transition changes no field', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    const before = await pods.get(def.id);
    await pods.transition(def.id, 'Running', { node: 'n1', message: 'nope', endpoints: [{ containerPort: 1, address: 'x:1' }] });
    assert.deepEqual(await pods.get(def.id), before);
  });

  test('a full life records each phase time and every status field', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    await pods.annotate(def.id, { message: 'no node fits: n1: node cordoned' });
    assert.equal((await pods.get(def.id))?.message, 'no node fits: n1: node cordoned');

    const startedAt = new Date().toISOString();
    const placement = { node: 'n1', why: 'pinned digest already in node cache', candidates: 2 };
    await pods.transition(def.id, 'Scheduled', { node: 'n1', placement, message: null });
    await pods.transition(def.id, 'Pulling', { message: 'pulling 3 layers' });
    await pods.transition(def.id, 'Starting', { startMode: 'cold', message: null });
    const endpoints = [{ containerPort: 8080, address: '127.0.0.1:30080' }];
    await pods.transition(def.id, 'Running', { endpoints });
    await pods.transition(def.id, 'Succeeded', { exitCode: 0, endpoints: null });
    const endedAt = new Date().toISOString();

    const pod = await pods.get(def.id);
    assert.ok(pod);
    const { timeline, ...rest } = pod;
    assert.deepEqual(rest, {
      ...def,
      phase: 'Succeeded',
      node: 'n1',
      placement,
      startMode: 'cold',
      endpoints: [],
      exitCode: 0,
      restarts: 0,
    });
    assert.deepEqual(Object.keys(timeline), ['Pending', 'Scheduled', 'Pulling', 'Starting', 'Running', 'Succeeded']);
    assert.equal(timeline.Pending, def.createdAt);
    let previous = startedAt;
    for (const phase of ['Scheduled', 'Pulling', 'Starting', 'Running', 'Succeeded'] as const) {
      const at = timeline[phase]!;
      assert.equal(new Date(at).toISOString(), at, `${phase} is an ISO time`);
      assert.ok(at >= previous && at <= endedAt, `${phase} at ${at} not in order`);
      previous = at;
    }
  });

  test('a failure keeps its exit code and error', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    await pods.transition(def.id, 'Failed', { exitCode: 137, error: 'killed: out of memory' });
    const pod = await pods.get(def.id);
    assert.equal(pod?.exitCode, 137);
    assert.equal(pod?.error, 'killed: out of memory');
  });

  test('a terminal transition with a node releases the reservation in the same step', async () => {
    const { pods, nodes, sessions, reservations } = scope();
    await sessions.register(
      {
        id: 'n1',
        labels: {},
        capacity: { cpu: 2, memoryMiB: 1024, gpu: 1 },
        agentUrl: 'http://127.0.0.1:1',
        capabilities: {},
      },
      '',
    );
    const def = podDef('acme');
    const other = podDef('acme');
    await pods.create(def);
    assert.equal((await reservations.tryReserve('n1', def.id, { cpu: 0.5, memoryMiB: 256, gpu: 1 })).reserved, true);
    assert.equal((await reservations.tryReserve('n1', other.id, { cpu: 0.25, memoryMiB: 64, gpu: 0 })).reserved, true);

    // Not terminal: nothing is released even when the node is named.
    await pods.transition(def.id, 'Scheduled', { node: 'n1' }, 'n1');
    assert.deepEqual((await reservations.list('n1')).sort(), [def.id, other.id].sort());

    // Refused terminal transition: nothing is released either.
    assert.deepEqual(await pods.transition(def.id, 'Succeeded', {}, 'n1'), { applied: false, previous: 'Scheduled' });
    assert.deepEqual((await nodes.get('n1'))?.allocated, { cpu: 0.75, memoryMiB: 320, gpu: 1 });

    assert.deepEqual(await pods.transition(def.id, 'Stopped', {}, 'n1'), { applied: true, previous: 'Scheduled' });
    assert.deepEqual(await reservations.list('n1'), [other.id]);
    assert.deepEqual((await nodes.get('n1'))?.allocated, { cpu: 0.25, memoryMiB: 64, gpu: 0 });
  });

  test('a terminal transition releases a reservation without a GPU (the default) completely', async () => {
    const { pods, nodes, sessions, reservations } = scope();
    await sessions.register(
      {
        id: 'n1',
        labels: {},
        capacity: { cpu: 2, memoryMiB: 1024, gpu: 0 },
        agentUrl: 'http://127.0.0.1:1',
        capabilities: {},
      },
      '',
    );
    const def = podDef('acme');
    await pods.create(def);
    assert.equal((await reservations.tryReserve('n1', def.id, def.spec.resources)).reserved, true);
    await pods.transition(def.id, 'Scheduled', { node: 'n1' });
    const errors: string[] = [];
    const outcome = await pods.transition(def.id, 'Failed', { error: 'boom' }, 'n1').catch((e: Error) => {
      errors.push(e.message);
      return undefined;
    });
    assert.deepEqual(
      {
        errors,
        outcome,
        phase: (await pods.get(def.id))?.phase,
        allocated: (await nodes.get('n1'))?.allocated,
        reservations: await reservations.list('n1'),
      },
      {
        errors: [],
        outcome: { applied: true, previous: 'Scheduled' },
        phase: 'Failed',
        allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
        reservations: [],
      },
    );
  });

  test('annotate never creates a record for an unknown pod', async () => {
    const { pods, prefix } = scope();
    const id = newId('pod');
    await pods.annotate(id, { message: 'hello', stopRequested: true });
    assert.deepEqual(await keysUnder(redis, prefix), []);
    assert.equal(await pods.get(id), undefined);
    assert.equal(await pods.isStopRequested(id), false);
  });

  test('annotate sets the message and the stop request of a known pod', async () => {
    const { pods } = scope();
    const def = podDef('acme');
    await pods.create(def);
    assert.equal(await pods.isStopRequested(def.id), false);
    await pods.annotate(def.id, { stopRequested: true });
    await pods.annotate(def.id, { message: 'waiting for capacity' });
    assert.equal(await pods.isStopRequested(def.id), true);
    const pod = await pods.get(def.id);
    assert.equal(pod?.message, 'waiting for capacity');
    assert.equal(pod?.phase, 'Pending');
  });

  test('listByTenant is newest first, pages with limit and beforeMs, and never shows another tenant', async () => {
    const { pods } = scope();
    const t0 = Date.parse('2030-01-01T00:00:00.000Z');
    const [oldest, middle, newest] = [0, 1000, 2000].map((d) => podDef('acme', new Date(t0 + d))) as [
      PodDefinition,
      PodDefinition,
      PodDefinition,
    ];
    const foreign = podDef('globex', new Date(t0 + 1500));
    for (const def of [middle, foreign, newest, oldest]) await pods.create(def);

    const ids = async (...args: Parameters<PodRepository['listByTenant']>): Promise<string[]> =>
      (await pods.listByTenant(...args)).map((p) => p.id);
    assert.deepEqual(await ids('acme', 10), [newest.id, middle.id, oldest.id]);
    assert.deepEqual(await ids('acme', 2), [newest.id, middle.id]);
    assert.deepEqual(await ids('acme', 10, t0 + 2000), [middle.id, oldest.id]);
    assert.deepEqual(await ids('globex', 10), [foreign.id]);
    assert.deepEqual(await ids('initech', 10), []);
    assert.equal(
      (await pods.listByTenant('acme', 10)).every((p) => p.tenant === 'acme'),
      true,
    );
  });
});
