import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId, normaliseSpec } from '@warmpod/domain';
import { keysUnder } from '@warmpod/devkit';
import { compareEventIds, EventLog, isEventId } from './event-log';
import { PodRepository, type PodDefinition } from './pod-repository';
import { freshPrefix, redis, useSpecRedis } from './testing/spec-redis';

function scope(opts: { events?: boolean } = {}): { prefix: string; pods: PodRepository; events: EventLog } {
  const prefix = freshPrefix();
  return { prefix, pods: new PodRepository(redis, prefix, opts), events: new EventLog(redis, prefix, opts) };
}

/** An appended event's id (the log is on in these tests). */
async function appended(id: Promise<string | undefined>): Promise<string> {
  return (await id) ?? assert.fail('the event log is on, yet append returned no id');
}

function podDef(tenant: string): PodDefinition {
  const digest = `sha256:${'d'.repeat(64)}`;
  return {
    id: newId('pod', Date.now()),
    tenant,
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'team/web:latest', pinned: `registry.local:5000/team/web@${digest}`, digest },
    spec: normaliseSpec({ image: 'team/web:latest' }),
  };
}

useSpecRedis();

describe('EventLog on real Redis', () => {
  test("a pod's phase changes are events in its stream, its tenant's and the all-events stream, under the same ids", async () => {
    const { pods, events } = scope();
    const pod = podDef('acme');
    await pods.create(pod);
    await pods.transition(pod.id, 'Scheduled', { node: 'node-a' });
    await pods.transition(pod.id, 'Running', { startMode: 'cold' }, undefined, ['Scheduled']); // refused: not allowed from Scheduled
    await pods.transition(pod.id, 'Stopped', { message: 'bye' });
    const { events: own } = await events.after({ kind: 'pod', tenant: 'acme', podId: pod.id }, '0-0', 100);
    assert.deepEqual(
      own.map((e) => [e.kind, e.resource, e.data['phase'], e.data['previous']]),
      [
        ['pod', pod.id, 'Pending', undefined],
        ['pod', pod.id, 'Scheduled', 'Pending'],
        ['pod', pod.id, 'Stopped', 'Scheduled'],
      ],
    );
    assert.equal(own[1]!.data['node'], 'node-a');
    assert.equal(own[2]!.data['message'], 'bye');
    assert.ok(own.every((e) => isEventId(e.id) && e.tenant === 'acme'));
    assert.deepEqual(
      (await events.after({ kind: 'tenant', tenant: 'acme' }, '0-0', 100)).events.map((e) => e.id),
      own.map((e) => e.id),
    );
    assert.deepEqual(
      (await events.after({ kind: 'all' }, own[0]!.id, 100)).events.map((e) => e.id),
      own.slice(1).map((e) => e.id),
    );
    assert.deepEqual(await events.after({ kind: 'tenant', tenant: 'globex' }, '0-0', 100), { events: [], skipped: [], lastId: '0-0' });
  });

  test('a rolled-back pod leaves no event anywhere', async () => {
    const { pods, prefix } = scope();
    const pod = podDef('acme');
    await pods.create(pod);
    await pods.remove(pod);
    assert.deepEqual(await keysUnder(redis, prefix), []);
  });

  test('append (pins, pools, checkpoints) also reaches the pod it names; follow wakes on a new event', async () => {
    const { events } = scope();
    const follower = redis.duplicate();
    try {
      const podScope = { kind: 'pod', tenant: 'acme', podId: 'pod-x' } as const;
      await follower.ping(); // connected, so the read below is under way before the appends
      const waiting = events.follow(follower, podScope, '$', 10_000, 10);
      await events.append('acme', 'pin', 'pin-1', { state: 'active' });
      await events.append('acme', 'checkpoint', 'ckpt-1', { state: 'pending', pod: 'pod-x' }, 'pod-x');
      const woke = await waiting;
      assert.deepEqual(
        woke.events.map((e) => [e.kind, e.resource]),
        [['checkpoint', 'ckpt-1']],
      );
      assert.equal((await events.after({ kind: 'tenant', tenant: 'acme' }, '0-0', 10)).events.length, 2);
    } finally {
      follower.disconnect();
    }
  });

  test('an entry this code did not write is skipped by id, and the next read starts after it', async () => {
    const { events } = scope();
    const all = { kind: 'all' } as const;
    const before = await appended(events.append('acme', 'pin', 'pin-1', {}));
    const foreign = await redis.xadd(events.streamOf(all), '*', 'hello', 'world');
    const bad = await redis.xadd(events.streamOf(all), '*', 'tenant', 'acme', 'kind', 'pod', 'resource', 'p', 'data', '{not json');
    const first = await events.after(all, before, 10);
    assert.deepEqual(first, { events: [], skipped: [foreign, bad], lastId: bad });
    const follower = redis.duplicate();
    try {
      // Only unreadable entries after the cursor: follow still moves the cursor past them, at once.
      assert.deepEqual(await events.follow(follower, all, before, 10_000, 10), first);
      const later = await appended(events.append('acme', 'pin', 'pin-2', {}));
      const next = await events.follow(follower, all, first.lastId, 10_000, 10);
      assert.deepEqual(
        next.events.map((e) => e.id),
        [later],
      );
      assert.deepEqual(next.skipped, []);
      assert.equal(next.lastId, later);
    } finally {
      follower.disconnect();
    }
  });

  test('locate: kept, foreign (another tenant or pod), future, trimmed', async () => {
    const { events, pods } = scope();
    const mine = await appended(events.append('acme', 'pin', 'pin-1', {}));
    const theirs = await appended(events.append('globex', 'pin', 'pin-2', {}));
    const acme = { kind: 'tenant', tenant: 'acme' } as const;
    assert.equal(await events.locate(acme, mine), 'kept');
    assert.equal(await events.locate(acme, theirs), 'foreign');
    assert.equal(await events.locate({ kind: 'all' }, theirs), 'kept');
    const pod = podDef('acme');
    await pods.create(pod);
    assert.equal(await events.locate({ kind: 'pod', tenant: 'acme', podId: pod.id }, mine), 'foreign', 'a pin event is not the pod’s');
    const [ms] = (await events.latestId({ kind: 'all' })).split('-');
    assert.equal(await events.locate(acme, `${Number(ms) + 60_000}-0`), 'future');
    assert.equal(await events.locate(acme, '1-0'), 'trimmed', 'older than anything kept');
    assert.ok(compareEventIds(mine, theirs) < 0);
    assert.ok(compareEventIds('10-0', '9-5') > 0);
  });

  test('switched off (WARMPOD_EVENTS=off): the pod scripts and append write no event, and the pod records are the same', async () => {
    const { pods, events, prefix } = scope({ events: false });
    const pod = podDef('acme');
    assert.deepEqual(await pods.create(pod), { kind: 'created', podId: pod.id });
    assert.equal((await pods.transition(pod.id, 'Scheduled', { node: 'node-a' })).applied, true);
    assert.equal((await pods.transition(pod.id, 'Running', { startMode: 'cold' }, undefined, ['Scheduled'])).applied, false);
    // A phase that ends a pod placed on a node goes through endPodOnNode-3.
    assert.deepEqual(await pods.transition(pod.id, 'Stopped', { message: 'bye' }, 'node-a'), { applied: true, previous: 'Scheduled' });
    assert.equal(await events.append('acme', 'pin', 'pin-1', { state: 'active' }, pod.id), undefined);
    const stored = await pods.get(pod.id);
    assert.equal(stored?.phase, 'Stopped');
    assert.equal(stored?.node, 'node-a');
    assert.equal(stored?.message, 'bye');
    assert.deepEqual(Object.keys(stored?.timeline ?? {}).sort(), ['Pending', 'Scheduled', 'Stopped']);
    const streams = (await keysUnder(redis, prefix)).filter((key) => key.startsWith(`${prefix}events:`));
    assert.deepEqual(streams, [], 'no event stream was written');
    assert.deepEqual((await events.after({ kind: 'all' }, '0-0', 10)).events, []);
    const rolledBack = podDef('acme');
    await pods.create(rolledBack);
    await pods.remove(rolledBack);
    assert.equal(await pods.get(rolledBack.id), undefined, 'a rollback still works with no events to remove');
  });
});
