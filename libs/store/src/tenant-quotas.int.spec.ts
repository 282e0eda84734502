import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_QUOTA, newId, normaliseSpec, type QuotaValues } from '@warmpod/domain';
import { CheckpointRepository, type NewCheckpoint } from './checkpoint-repository';
import { PinRepository, type NewPin } from './pin-repository';
import { PodRepository, type PodDefinition } from './pod-repository';
import { LOST_RESTART_GRACE_MS, TenantQuotas } from './tenant-quotas';
import { newCheckpoint } from './testing/new-checkpoint';
import { freshPrefix, redis, useSpecRedis } from './testing/spec-redis';

/**
 * The quota rules the gateway's tests do not reach: checkpoints, a pin
 * superseded by its successor, and a Lost pod that is about to restart.
 */
const DIGEST = `sha256:${'e'.repeat(64)}`;

function scope() {
  const prefix = freshPrefix();
  return {
    pods: new PodRepository(redis, prefix),
    pins: new PinRepository(redis, prefix),
    checkpoints: new CheckpointRepository(redis, prefix),
    quotas: new TenantQuotas(redis, prefix),
  };
}

/** The refusal of a checkpoint create, undefined when it was stored. */
const refusalOf = (r: Awaited<ReturnType<CheckpointRepository['createWithinQuota']>>) => ('kind' in r ? r.refusal : undefined);

const limits = (over: Partial<QuotaValues>): QuotaValues => ({ ...DEFAULT_QUOTA, ...over });

function podDef(restartPolicy: 'Never' | 'OnFailure'): PodDefinition {
  return {
    id: newId('pod'),
    tenant: 'acme',
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'team/app', pinned: `registry.local/team/app@${DIGEST}`, digest: DIGEST },
    spec: normaliseSpec({ image: 'team/app', restartPolicy, resources: { cpu: 0.25, memoryMiB: 64, gpu: 0 } }),
  };
}

const checkpoint = (id: string): NewCheckpoint => newCheckpoint(id, { digest: DIGEST });

function pin(digest: string): NewPin {
  return {
    id: newId('pin'),
    tenant: 'acme',
    requested: 'team/app',
    reference: 'registry.local/team/app:latest',
    pinned: `registry.local/team/app@${digest}`,
    digest,
    nodeSelector: {},
    createdAt: new Date().toISOString(),
  };
}

useSpecRedis();

describe('tenant quotas on real Redis', () => {
  test('checkpoints: count, then bytes held; deleted and failed ones give their use back', async () => {
    const { checkpoints, quotas } = scope();
    const max = limits({ checkpoints: 2, checkpointBytes: 1000 });
    for (const id of ['ck-1', 'ck-2']) assert.equal(refusalOf(await checkpoints.createWithinQuota(checkpoint(id), max)), undefined);
    const third = refusalOf(await checkpoints.createWithinQuota(checkpoint('ck-3'), max));
    assert.deepEqual(third, { quota: 'checkpoints', limit: 2, used: 2, requested: 1 });
    assert.equal(await checkpoints.get('ck-3'), undefined, 'nothing stored');

    await checkpoints.apply('ck-1', { type: 'checkpointed', sizeBytes: 1000 });
    await checkpoints.apply('ck-2', { type: 'checkpoint-failed', reason: 'criu said no' });
    const { checkpoints: count, checkpointBytes } = await quotas.use('acme');
    assert.deepEqual([count, checkpointBytes], [1, 1000]);
    const byBytes = refusalOf(await checkpoints.createWithinQuota(checkpoint('ck-3'), max));
    assert.equal(byBytes?.quota, 'checkpointBytes');

    await checkpoints.apply('ck-1', { type: 'deleted' });
    assert.equal(refusalOf(await checkpoints.createWithinQuota(checkpoint('ck-3'), max)), undefined);
    assert.equal((await quotas.use('acme')).checkpoints, 1);
  });

  test('a re-pinned reference is charged once: the superseded pin no longer counts', async () => {
    const { pins, quotas } = scope();
    const max = limits({ pins: 1 });
    assert.equal((await pins.createCharged(pin(DIGEST), max, 300)).kind, 'stored');
    const moved = await pins.createCharged(pin(`sha256:${'f'.repeat(64)}`), max, 500);
    assert.equal(moved.kind === 'stored' && moved.created, true);
    const use = await quotas.use('acme');
    assert.deepEqual([use.pins, use.pinBytes], [1, 500]);
    // A pool's pin (uncharged) of another reference does not count either.
    await pins.create({ ...pin(DIGEST), reference: 'registry.local/team/pool:latest' });
    assert.equal((await quotas.use('acme')).pins, 1);
  });

  test('a Lost pod that restarts stays charged for the grace window; one that does not is released at once', async () => {
    const { pods, quotas } = scope();
    const max = limits({ pods: 5 });
    const restarting = podDef('OnFailure');
    const ending = podDef('Never');
    for (const def of [restarting, ending]) {
      assert.equal((await pods.create(def, undefined, max)).kind, 'created');
      await pods.transition(def.id, 'Scheduled', { node: 'node-a' });
      assert.equal((await pods.transition(def.id, 'Lost')).applied, true);
    }
    const now = Date.now();
    const use = await quotas.use('acme', now);
    assert.deepEqual([use.pods, use.cpuMilli, use.memoryMiB], [1, 250, 64]);
    assert.equal((await quotas.use('acme', now + LOST_RESTART_GRACE_MS + 1_000)).pods, 0);
  });

  test('a pod created without limits (a warm pool member) is not charged', async () => {
    const { pods, quotas } = scope();
    await pods.create(podDef('Never'));
    assert.equal((await quotas.use('acme')).pods, 0);
  });
});
