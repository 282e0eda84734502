import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keysUnder } from '@warmpod/devkit';
import { applyCheckpointEvent, type CheckpointEvent, type CheckpointRecord } from '@warmpod/domain';
import { CheckpointRepository, type NewCheckpoint } from './checkpoint-repository';
import { newCheckpoint } from './testing/new-checkpoint';
import { freshPrefix, redis, useSpecRedis } from './testing/spec-redis';

const KEY_A = `ck1-${'a'.repeat(64)}`;
const KEY_B = `ck1-${'b'.repeat(64)}`;
const DIGEST = `sha256:${'d'.repeat(64)}`;

function scope(quarantineAfter = 3): { prefix: string; repo: CheckpointRepository } {
  const prefix = freshPrefix();
  return { prefix, repo: new CheckpointRepository(redis, prefix, { quarantineAfter }) };
}

/** A record without its last-change time, which only Redis knows. */
function plain(record: CheckpointRecord | undefined): Omit<CheckpointRecord, 'updatedAt'> | undefined {
  if (!record) return undefined;
  const rest: Partial<CheckpointRecord> = { ...record };
  delete rest.updatedAt;
  return rest as Omit<CheckpointRecord, 'updatedAt'>;
}

function checkpoint(id: string, minutes: number, over: Partial<NewCheckpoint> = {}): NewCheckpoint {
  return newCheckpoint(id, { key: KEY_A, digest: DIGEST, createdAt: new Date(Date.UTC(2026, 10, 1, 0, minutes)).toISOString(), ...over });
}

useSpecRedis();

describe('CheckpointRepository on real Redis', () => {
  test('create records a pending checkpoint with every field; creating it again changes nothing', async () => {
    const { repo, prefix } = scope();
    const c = checkpoint('ckpt-1', 0);
    const first = await repo.create(c);
    assert.deepEqual(first, { created: true, record: { ...c, state: 'pending', sizeBytes: 0, restoreFailures: 0 } });
    assert.deepEqual(await repo.create({ ...c, digest: `sha256:${'e'.repeat(64)}` }), { created: false, record: first.record });
    assert.deepEqual(await keysUnder(redis, prefix), [
      'ckpt:ckpt-1',
      'events:all',
      'events:pod:pod-1',
      'events:tenant:acme',
      'node:node-a:ckpts',
      'tenant:acme:ckpts',
    ]);
    assert.equal(await repo.latestRestorable('node-a', KEY_A), undefined, 'a pending checkpoint is not restorable');
  });

  test('available makes it the latest restorable of its (node, key); the newest wins; other nodes and keys stay apart', async () => {
    const { repo } = scope();
    for (const [id, minutes, over] of [
      ['old', 0, {}],
      ['new', 5, {}],
      ['other-key', 9, { key: KEY_B }],
      ['other-node', 9, { node: 'node-b' }],
      ['still-pending', 10, {}],
    ] as const) {
      await repo.create(checkpoint(id, minutes, over));
      if (id !== 'still-pending') await repo.markAvailable(id, 1000 + minutes);
    }
    assert.equal((await repo.latestRestorable('node-a', KEY_A))?.id, 'new');
    assert.deepEqual(plain(await repo.latestRestorable('node-a', KEY_A)), {
      ...checkpoint('new', 5),
      state: 'available',
      sizeBytes: 1005,
      restoreFailures: 0,
    });
    assert.equal((await repo.latestRestorable('node-a', KEY_B))?.id, 'other-key');
    assert.equal((await repo.latestRestorable('node-b', KEY_A))?.id, 'other-node');
    assert.equal(await repo.latestRestorable('node-c', KEY_A), undefined);
    await repo.markDeleted('new', 'retention: superseded');
    assert.equal((await repo.latestRestorable('node-a', KEY_A))?.id, 'old', 'a deleted checkpoint is never offered');
  });

  test('restore failures count up in one step each; the k-th quarantines the checkpoint and takes it out of the lookup', async () => {
    const { repo } = scope(2);
    await repo.create(checkpoint('ck', 0));
    await repo.markAvailable('ck', 4096);
    const first = await repo.markRestoreFailed('ck', 'criu: restore failed: File /data/x has bad size');
    assert.equal(first.applied && first.quarantined, false);
    assert.equal(first.applied && first.record.restoreFailures, 1);
    assert.equal((await repo.latestRestorable('node-a', KEY_A))?.id, 'ck', 'one failure: still offered');
    const second = await repo.markRestoreFailed('ck', 'criu: second failure');
    assert.ok(second.applied);
    assert.equal(second.quarantined, true);
    assert.deepEqual(plain(second.record), {
      ...checkpoint('ck', 0),
      state: 'restore_failed',
      sizeBytes: 4096,
      restoreFailures: 2,
      reason: 'criu: second failure',
    });
    assert.equal(await repo.latestRestorable('node-a', KEY_A), undefined);
    assert.deepEqual(await repo.markRestored('ck'), { applied: false, why: 'quarantined', state: 'restore_failed' });
    assert.deepEqual(await repo.markRestoreFailed('ck', 'x'), { applied: false, why: 'quarantined', state: 'restore_failed' });
    const deleted = await repo.markDeleted('ck', 'quarantined');
    assert.equal(deleted.applied && deleted.record.state, 'deleted');
  });

  test('concurrent restore failures are each counted once', async () => {
    const { repo } = scope(100);
    await repo.create(checkpoint('ck', 0));
    await repo.markAvailable('ck', 1);
    await Promise.all(Array.from({ length: 20 }, (_, i) => repo.markRestoreFailed('ck', `failure ${i}`)));
    assert.equal((await repo.get('ck'))?.restoreFailures, 20);
  });

  test('a successful restore after a failure makes it available again, count kept', async () => {
    const { repo } = scope(3);
    await repo.create(checkpoint('ck', 0));
    await repo.markAvailable('ck', 1);
    await repo.markRestoreFailed('ck', 'transient');
    const restored = await repo.markRestored('ck');
    assert.ok(restored.applied);
    assert.equal(restored.from, 'restore_failed');
    assert.equal(restored.record.state, 'available');
    assert.equal(restored.record.restoreFailures, 1);
    assert.equal((await repo.latestRestorable('node-a', KEY_A))?.id, 'ck');
  });

  test('refused transitions say why and change nothing', async () => {
    const { repo } = scope();
    assert.deepEqual(await repo.markAvailable('missing', 1), { applied: false, why: 'not-found' });
    await repo.create(checkpoint('ck', 0));
    const before = await repo.get('ck');
    assert.deepEqual(await repo.markRestoreFailed('ck', 'x'), { applied: false, why: 'not-allowed', state: 'pending' });
    const failed = await repo.markCheckpointFailed('ck', 'condition not met within 60 s');
    assert.equal(failed.applied && failed.record.reason, 'condition not met within 60 s');
    assert.deepEqual(await repo.markAvailable('ck', 5), { applied: false, why: 'not-allowed', state: 'checkpoint_failed' });
    assert.deepEqual({ ...plain(await repo.get('ck')), state: 'pending', reason: undefined }, { ...before, reason: undefined });
    assert.equal(await repo.latestRestorable('node-a', KEY_A), undefined);
  });

  test('the Lua steps agree with the domain rules on every event sequence tried', async () => {
    const { repo } = scope(2);
    const events: CheckpointEvent[] = [
      { type: 'restored' },
      { type: 'checkpointed', sizeBytes: 10 },
      { type: 'restore-failed', reason: 'a' },
      { type: 'restored' },
      { type: 'checkpoint-failed', reason: 'late' },
      { type: 'restore-failed', reason: 'b' },
      { type: 'restored' },
      { type: 'deleted', reason: 'gone' },
      { type: 'checkpointed', sizeBytes: 20 },
    ];
    await repo.create(checkpoint('ck', 0));
    let expected: CheckpointRecord = (await repo.get('ck'))!;
    for (const event of events) {
      const domain = applyCheckpointEvent(expected, event, 2);
      const stored = await repo.apply('ck', event);
      assert.equal(stored.applied, domain.applied, `${event.type} from ${expected.state}`);
      if (domain.applied) expected = domain.record;
      assert.deepEqual(plain(await repo.get('ck')), plain(expected), `after ${event.type}`);
    }
  });

  test("lists by tenant (newest first, no other tenant) and by node; get with a tenant hides another tenant's", async () => {
    const { repo } = scope();
    await repo.create(checkpoint('a1', 1));
    await repo.create(checkpoint('a2', 2, { node: 'node-b' }));
    await repo.create(checkpoint('b1', 3, { tenant: 'beta' }));
    assert.deepEqual(
      (await repo.listByTenant('acme')).map((c) => c.id),
      ['a2', 'a1'],
    );
    assert.deepEqual(
      (await repo.listByTenant('acme', { limit: 1 })).map((c) => c.id),
      ['a2'],
    );
    assert.deepEqual(
      (await repo.listByTenant('beta')).map((c) => c.id),
      ['b1'],
    );
    assert.deepEqual(
      (await repo.listByNode('node-a')).map((c) => c.id),
      ['a1', 'b1'],
    );
    assert.equal(await repo.get('b1', 'acme'), undefined);
    assert.equal((await repo.get('b1', 'beta'))?.id, 'b1');
  });

  test('remove forgets the record and every index entry', async () => {
    const { repo, prefix } = scope();
    await repo.create(checkpoint('ck', 0));
    await repo.markAvailable('ck', 1);
    assert.equal(await repo.remove('ck'), true);
    assert.equal(await repo.remove('ck'), false);
    // Its events stay in the (bounded) event streams: a log of what happened.
    assert.deepEqual(await keysUnder(redis, prefix), ['events:all', 'events:pod:pod-1', 'events:tenant:acme']);
    assert.equal(await repo.latestRestorable('node-a', KEY_A), undefined);
    assert.deepEqual(await repo.listByTenant('acme'), []);
  });
});
