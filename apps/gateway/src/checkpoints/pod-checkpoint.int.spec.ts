import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { checkpointKey, checkpointSpecKey, runtimeKey, type CheckpointRecord, type PodRecord } from '@warmpod/domain';
import { checkpointSuite, queueDownGateway, CRIU_NODE, DIGEST, NO_CRIU_REASON, PLAIN_NODE, RUNTIME } from '../testing/checkpoints';
import { call, errorOf, TOKENS } from '../testing/harness';

/** POST /v1/pods/{id}/checkpoint: every refusal leaves no record and no job. */
const suite = checkpointSuite('pod-checkpoint');

const checkpointOf = (res: { body: unknown }): CheckpointRecord => res.body as CheckpointRecord;

/** Asserts the call is refused with `status` and `code`, and that it changed nothing. */
async function refused(
  path: string,
  status: number,
  code: string,
  token: string = TOKENS.alpha,
): Promise<{ message: string; details: Array<{ path: string; message: string }> }> {
  const before = await suite.cluster.snapshot();
  const res = await call(suite.gateway.url, 'POST', path, { token });
  assert.equal(res.status, status, JSON.stringify(res.body));
  const error = errorOf(res);
  assert.equal(error.code, code);
  assert.deepEqual(await suite.cluster.snapshot(), before, 'a refused checkpoint leaves no record and no job');
  return error;
}

describe('POST /v1/pods/{id}/checkpoint of a Running pod on a CRIU node', () => {
  let podId: string;
  let taken: CheckpointRecord;

  before(async () => {
    podId = await suite.cluster.pod();
  });

  test('answers 202 with the pending record, keyed by the pod spec and the node runtime', async () => {
    const res = await call(suite.gateway.url, 'POST', `/v1/pods/${podId}/checkpoint`, { headers: { 'x-request-id': 'req-ckpt-1' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.headers.get('x-request-id'), 'req-ckpt-1');
    taken = checkpointOf(res);
    assert.match(taken.id, /^ckpt-[0-9a-z]{20}$/);
    const pod = (await suite.cluster.pods.get(podId))!;
    const shape = { tenant: 'alpha', digest: DIGEST, spec: pod.spec };
    assert.deepEqual(taken, {
      id: taken.id,
      key: checkpointKey({ ...shape, runtime: RUNTIME }),
      specKey: checkpointSpecKey(shape),
      runtime: runtimeKey(RUNTIME),
      tenant: 'alpha',
      node: CRIU_NODE,
      pod: podId,
      digest: DIGEST,
      state: 'pending',
      sizeBytes: 0,
      createdAt: taken.createdAt,
      restoreFailures: 0,
    });
    assert.deepEqual(await suite.cluster.checkpoints.get(taken.id), taken);
  });

  test("queues checkpoint-pod on the pod's node with the request id, and leaves the pod running", async () => {
    const job = await suite.cluster.queue(CRIU_NODE).getJob(`checkpoint-pod-${taken.id}`);
    assert.ok(job, 'checkpoint-pod job on the node queue');
    assert.equal(job.name, 'checkpoint-pod');
    assert.deepEqual(job.data, { podId, requestId: 'req-ckpt-1', checkpointId: taken.id });
    const pod = await call(suite.gateway.url, 'GET', `/v1/pods/${podId}`);
    assert.equal((pod.body as PodRecord).phase, 'Running');
  });

  test('a second one while the first is being taken is 409 checkpoint_in_progress', async () => {
    const error = await refused(`/v1/pods/${podId}/checkpoint`, 409, 'checkpoint_in_progress');
    assert.match(error.message, new RegExp(taken.id));
  });

  test('once the first is taken, another can be requested', async () => {
    await suite.cluster.checkpoints.markAvailable(taken.id, 4096);
    const res = await call(suite.gateway.url, 'POST', `/v1/pods/${podId}/checkpoint`);
    assert.equal(res.status, 202);
    assert.notEqual(checkpointOf(res).id, taken.id);
    assert.equal(checkpointOf(res).key, taken.key, 'same pod, same node: same key');
  });
});

describe('POST /v1/pods/{id}/checkpoint refusals', () => {
  test('an unknown pod, a malformed id and another tenant’s pod are 404', async () => {
    const beta = await suite.cluster.pod({ tenant: 'beta' });
    await refused(`/v1/pods/pod-00000000000000000000/checkpoint`, 404, 'not_found');
    await refused(`/v1/pods/nope/checkpoint`, 404, 'not_found');
    await refused(`/v1/pods/${beta}/checkpoint`, 404, 'not_found');
    // The owner may.
    assert.equal((await call(suite.gateway.url, 'POST', `/v1/pods/${beta}/checkpoint`, { token: TOKENS.beta })).status, 202);
  });

  test('a pod that is not Running is 409 pod_not_running with its phase', async () => {
    for (const phase of ['Pending', 'Scheduled', 'Succeeded'] as const) {
      const id = await suite.cluster.pod({ phase });
      const error = await refused(`/v1/pods/${id}/checkpoint`, 409, 'pod_not_running');
      assert.match(error.message, new RegExp(`the pod is ${phase}`));
      assert.deepEqual(error.details, [{ path: 'phase', message: phase }]);
    }
  });

  test('a pod with more than one GPU is 422 checkpoint_unsupported; one GPU is fine', async () => {
    const two = await suite.cluster.pod({ gpu: 2 });
    const error = await refused(`/v1/pods/${two}/checkpoint`, 422, 'checkpoint_unsupported');
    assert.equal(error.message, 'the pod uses 2 GPUs; checkpointing supports at most 1');
    assert.equal(error.details[0]?.path, 'spec.resources.gpu');
    const one = await suite.cluster.pod({ gpu: 1 });
    assert.equal((await call(suite.gateway.url, 'POST', `/v1/pods/${one}/checkpoint`)).status, 202);
  });

  test("a pod on a node without working CRIU is 409 node_cannot_checkpoint with the node's reason", async () => {
    const id = await suite.cluster.pod({ node: PLAIN_NODE });
    const error = await refused(`/v1/pods/${id}/checkpoint`, 409, 'node_cannot_checkpoint');
    assert.equal(error.message, `node ${PLAIN_NODE} cannot checkpoint: ${NO_CRIU_REASON}`);
  });

  test('a pod whose node is gone from the registry is 409 node_cannot_checkpoint', async () => {
    const id = await suite.cluster.pod({ node: 'node-gone' });
    const error = await refused(`/v1/pods/${id}/checkpoint`, 409, 'node_cannot_checkpoint');
    assert.match(error.message, /node-gone is no longer registered/);
  });

  test('no bearer token is 401', async () => {
    const id = await suite.cluster.pod();
    await refused(`/v1/pods/${id}/checkpoint`, 401, 'unauthorized', '');
  });
});

describe('a checkpoint that cannot be queued', () => {
  const broken = queueDownGateway(suite);

  test('is rolled back: 503 queue_unavailable, no record and no job; the pod can be checkpointed later', async () => {
    const id = await suite.cluster.pod();
    const before = await suite.cluster.snapshot();
    const res = await call(broken.gateway.url, 'POST', `/v1/pods/${id}/checkpoint`);
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).code, 'queue_unavailable');
    assert.deepEqual(await suite.cluster.snapshot(), before);
    const retry = await call(suite.gateway.url, 'POST', `/v1/pods/${id}/checkpoint`);
    assert.equal(retry.status, 202, 'no pending husk blocks the retry');
    // The snapshot does see what an accepted request writes.
    const after = await suite.cluster.snapshot();
    assert.ok(after.keys.some((k) => k.endsWith(`ckpt:${checkpointOf(retry).id}`)));
    assert.equal(after.jobs[CRIU_NODE]?.['waiting'], (before.jobs[CRIU_NODE]?.['waiting'] ?? 0) + 1);
  });
});
