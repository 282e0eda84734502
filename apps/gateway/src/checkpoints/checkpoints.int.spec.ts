import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type CheckpointRecord } from '@warmpod/domain';
import { checkpointSuite, queueDownGateway, CRIU_NODE } from '../testing/checkpoints';
import { call, errorOf, TOKENS } from '../testing/harness';

/** GET and DELETE /v1/checkpoints, tenant isolation, and the OpenAPI document of the checkpoint API. */
const suite = checkpointSuite('checkpoints');

const record = (res: { body: unknown }): CheckpointRecord => res.body as CheckpointRecord;
const items = (res: { body: unknown }): CheckpointRecord[] => (res.body as { items: CheckpointRecord[] }).items;

/** A checkpoint taken through the API (so the record is exactly what the gateway writes). */
async function take(podId: string, token: string = TOKENS.alpha): Promise<CheckpointRecord> {
  const res = await call(suite.gateway.url, 'POST', `/v1/pods/${podId}/checkpoint`, { token });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return record(res);
}

describe('GET /v1/checkpoints', () => {
  let podA: string;
  let first: CheckpointRecord;
  let second: CheckpointRecord;
  let third: CheckpointRecord;
  let betas: CheckpointRecord;

  before(async () => {
    podA = await suite.cluster.pod();
    first = await take(podA);
    await suite.cluster.checkpoints.markAvailable(first.id, 100);
    second = await take(podA);
    await suite.cluster.checkpoints.markCheckpointFailed(second.id, 'criu dump failed');
    third = await take(await suite.cluster.pod());
    betas = await take(await suite.cluster.pod({ tenant: 'beta' }), TOKENS.beta);
  });

  test("lists only the tenant's records, newest first", async () => {
    const res = await call(suite.gateway.url, 'GET', '/v1/checkpoints');
    assert.equal(res.status, 200);
    assert.deepEqual(
      items(res).map((c) => c.id),
      [third.id, second.id, first.id],
    );
    assert.equal(items(res)[1]?.reason, 'criu dump failed');
    const beta = await call(suite.gateway.url, 'GET', '/v1/checkpoints', { token: TOKENS.beta });
    assert.deepEqual(
      items(beta).map((c) => c.id),
      [betas.id],
    );
  });

  test('filters by pod, node and state, and limits', async () => {
    const byPod = await call(suite.gateway.url, 'GET', `/v1/checkpoints?pod=${podA}`);
    assert.deepEqual(
      items(byPod).map((c) => c.id),
      [second.id, first.id],
    );
    const byState = await call(suite.gateway.url, 'GET', '/v1/checkpoints?state=available');
    assert.deepEqual(
      items(byState).map((c) => c.id),
      [first.id],
    );
    const both = await call(suite.gateway.url, 'GET', `/v1/checkpoints?pod=${podA}&state=pending`);
    assert.deepEqual(items(both), []);
    const byNode = await call(suite.gateway.url, 'GET', `/v1/checkpoints?node=${CRIU_NODE}&limit=2`);
    assert.deepEqual(
      items(byNode).map((c) => c.id),
      [third.id, second.id],
    );
    assert.deepEqual(items(await call(suite.gateway.url, 'GET', '/v1/checkpoints?node=node-other')), []);
  });

  test('a bad query is 400 with the field path', async () => {
    for (const [query, path] of [
      ['state=done', 'query.state'],
      ['pod=nope', 'query.pod'],
      ['limit=0', 'query.limit'],
      ['color=red', 'query.color'],
    ]) {
      const res = await call(suite.gateway.url, 'GET', `/v1/checkpoints?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(errorOf(res).code, 'invalid_request');
      assert.equal(errorOf(res).details[0]?.path, path, query);
    }
  });

  test('GET /v1/checkpoints/{id}: the record; 404 for another tenant, an unknown or a malformed id', async () => {
    const res = await call(suite.gateway.url, 'GET', `/v1/checkpoints/${first.id}`);
    assert.equal(res.status, 200);
    assert.equal(record(res).state, 'available');
    assert.equal(record(res).sizeBytes, 100);
    for (const [id, token] of [
      [betas.id, TOKENS.alpha],
      [first.id, TOKENS.beta],
      ['ckpt-00000000000000000000', TOKENS.alpha],
      ['nope', TOKENS.alpha],
    ] as const) {
      const other = await call(suite.gateway.url, 'GET', `/v1/checkpoints/${id}`, { token });
      assert.equal(other.status, 404, id);
      assert.equal(errorOf(other).code, 'not_found');
    }
    assert.equal((await call(suite.gateway.url, 'GET', '/v1/checkpoints', { token: null })).status, 401);
  });
});

describe('DELETE /v1/checkpoints/{id}', () => {
  test('marks it deleted at once (no restore picks it) and queues delete-checkpoint on its node', async () => {
    const taken = await take(await suite.cluster.pod({ env: { MODE: 'delete' } }));
    await suite.cluster.checkpoints.markAvailable(taken.id, 2048);
    assert.equal((await suite.cluster.checkpoints.latestRestorable(CRIU_NODE, taken.key))?.id, taken.id);

    const res = await call(suite.gateway.url, 'DELETE', `/v1/checkpoints/${taken.id}`, { headers: { 'x-request-id': 'req-del-1' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(record(res).state, 'deleted');
    assert.equal(record(res).reason, 'deleted by the user');
    assert.equal(await suite.cluster.checkpoints.latestRestorable(CRIU_NODE, taken.key), undefined);
    const job = await suite.cluster.queue(CRIU_NODE).getJob(`delete-checkpoint-${taken.id}`);
    assert.ok(job, 'delete-checkpoint job on the node queue');
    assert.deepEqual(job.data, { checkpointId: taken.id, requestId: 'req-del-1' });

    const again = await call(suite.gateway.url, 'DELETE', `/v1/checkpoints/${taken.id}`);
    assert.equal(again.status, 202, 'deleting a deleted checkpoint is a no-op');
    assert.equal(record(again).state, 'deleted');
    const listed = await call(suite.gateway.url, 'GET', '/v1/checkpoints?state=deleted');
    assert.ok(items(listed).some((c) => c.id === taken.id));
  });

  test('a pending checkpoint can be deleted too', async () => {
    const taken = await take(await suite.cluster.pod());
    const res = await call(suite.gateway.url, 'DELETE', `/v1/checkpoints/${taken.id}`);
    assert.equal(res.status, 202);
    assert.equal(record(res).state, 'deleted');
  });

  test("is 404 for an unknown id and for another tenant's checkpoint, which stays as it was", async () => {
    const betas = await take(await suite.cluster.pod({ tenant: 'beta' }), TOKENS.beta);
    const before = await suite.cluster.snapshot();
    for (const id of [betas.id, 'ckpt-00000000000000000000', 'nope']) {
      const res = await call(suite.gateway.url, 'DELETE', `/v1/checkpoints/${id}`);
      assert.equal(res.status, 404, id);
      assert.equal(errorOf(res).code, 'not_found');
    }
    assert.deepEqual(await suite.cluster.snapshot(), before);
    assert.equal((await suite.cluster.checkpoints.get(betas.id))?.state, 'pending');
  });

  describe('when the node queue is down', () => {
    const broken = queueDownGateway(suite);

    test('the checkpoint is still deleted (never restored); 503, and a retried DELETE queues the removal', async () => {
      const taken = await take(await suite.cluster.pod({ env: { MODE: 'queue-down' } }));
      await suite.cluster.checkpoints.markAvailable(taken.id, 10);
      const res = await call(broken.gateway.url, 'DELETE', `/v1/checkpoints/${taken.id}`);
      assert.equal(res.status, 503);
      assert.equal(errorOf(res).code, 'queue_unavailable');
      assert.equal((await suite.cluster.checkpoints.get(taken.id))?.state, 'deleted');
      assert.equal(await suite.cluster.checkpoints.latestRestorable(CRIU_NODE, taken.key), undefined);
      assert.equal(await suite.cluster.queue(CRIU_NODE).getJob(`delete-checkpoint-${taken.id}`), undefined);
      const retry = await call(suite.gateway.url, 'DELETE', `/v1/checkpoints/${taken.id}`);
      assert.equal(retry.status, 202);
      assert.ok(await suite.cluster.queue(CRIU_NODE).getJob(`delete-checkpoint-${taken.id}`));
    });
  });
});

describe('OpenAPI', () => {
  type Schema = { properties?: Record<string, Schema>; required?: string[]; enum?: string[] };

  test('documents the checkpoint routes, the Checkpoint record and the checkpoint fields of pods', async () => {
    const res = await call(suite.gateway.url, 'GET', '/docs/json', { token: null });
    const doc = res.body as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components: { schemas: Record<string, Schema> };
    };
    assert.ok(doc.paths['/v1/pods/{id}/checkpoint']?.['post']?.responses?.['202']);
    assert.ok(doc.paths['/v1/checkpoints']?.['get']);
    assert.ok(doc.paths['/v1/checkpoints/{id}']?.['get']);
    assert.ok(doc.paths['/v1/checkpoints/{id}']?.['delete']?.responses?.['202']);
    const { Checkpoint, PodRecord, PodRequest } = doc.components.schemas;
    assert.deepEqual(Checkpoint?.properties?.['state']?.enum, ['pending', 'available', 'checkpoint_failed', 'restore_failed', 'deleted']);
    assert.ok(PodRecord?.properties?.['checkpointing']?.properties?.['reason']);
    assert.ok(PodRecord?.properties?.['checkpoint']?.properties?.['taken']);
    assert.ok(PodRequest?.properties?.['checkpoint']?.properties?.['condition'], 'the request field comes from the zod schema');
  });
});
