import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { newId, type PodRecord } from '@warmpod/domain';
import { bullPrefix, nodeQueueName } from '@warmpod/jobs';
import { NodeRepository, NodeReservations, NodeSessions, PodRepository } from '@warmpod/store';
import { call, closedPort, errorOf, startGateway, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import type { NodeResponse } from './node-response';

/**
 * Node endpoints and the node-facing pod paths (logs, stop). The scheduler
 * and agents are not running here: their writes are made directly through
 * the same repositories they use.
 */
const prefix = uniquePrefix('nodes');
const DIGEST = `sha256:${'b'.repeat(64)}`;
let gateway: TestGateway;
let traces: Traces;
let nodes: NodeRepository;
let sessions: NodeSessions;
let reservations: NodeReservations;
let pods: PodRepository;
let agent: Server;
let agentUrl: string;
const agentRequests: string[] = [];

before(async () => {
  gateway = await startGateway({ WARMPOD_PREFIX: prefix, NODE_READY_WINDOW_MS: '60000' });
  traces = new Traces(prefix);
  nodes = new NodeRepository(traces.redis, prefix);
  sessions = new NodeSessions(traces.redis, prefix);
  reservations = new NodeReservations(traces.redis, prefix);
  pods = new PodRepository(traces.redis, prefix);
  // Stands in for a node agent's log endpoint.
  agent = createServer((req, res) => {
    agentRequests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('line 1\nline 2\n');
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(agent.address() as { port: number }).port}/`;
  await sessions.register(
    {
      id: 'node-a',
      labels: { zone: 'a' },
      capacity: { cpu: 4, memoryMiB: 8192, gpu: 0 },
      agentUrl,
      capabilities: { criu: false },
    },
    's-a',
  );
  await sessions.register(
    {
      id: 'node-gone',
      labels: {},
      capacity: { cpu: 1, memoryMiB: 1024, gpu: 0 },
      agentUrl: `http://127.0.0.1:${await closedPort()}`,
      capabilities: {},
    },
    '',
  );
  await sessions.applyInventory('node-a', 's-a', {
    images: [{ digest: DIGEST, sizeBytes: 1234, layers: [] }],
    runningPods: [],
    checkpoints: [],
  });
  await reservations.tryReserve('node-a', 'pod-reserved', { cpu: 1.5, memoryMiB: 1024, gpu: 0 });
});

after(async () => {
  await gateway?.close();
  const queue = new Queue(nodeQueueName('node-a'), { connection: traces.redis, prefix: bullPrefix(prefix) });
  await queue.close();
  await new Promise((resolve) => (agent ? agent.close(resolve) : resolve(undefined)));
  await traces?.cleanUp();
});

/** A pod as the scheduler would leave it: stored, then placed on a node. */
async function podOn(node: string | undefined, tenant = 'alpha'): Promise<string> {
  const id = newId('pod');
  await pods.create({
    id,
    tenant,
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'x', pinned: `127.0.0.1:5000/x@${DIGEST}`, digest: DIGEST },
    spec: {
      command: [],
      args: [],
      env: {},
      ports: [],
      resources: { cpu: 0.1, memoryMiB: 64, gpu: 0 },
      nodeSelector: {},
      restartPolicy: 'Never',
    },
  });
  if (node) await pods.transition(id, 'Scheduled', { node });
  return id;
}

describe('GET /v1/nodes', () => {
  test('shows capacity, allocation, free, health and cached digests', async () => {
    const res = await call(gateway.url, 'GET', '/v1/nodes');
    assert.equal(res.status, 200);
    const items = (res.body as { items: NodeResponse[] }).items;
    const a = items.find((n) => n.id === 'node-a');
    assert.ok(a);
    assert.deepEqual(a.capacity, { cpu: 4, memoryMiB: 8192, gpu: 0 });
    assert.deepEqual(a.allocated, { cpu: 1.5, memoryMiB: 1024, gpu: 0 });
    assert.deepEqual(a.free, { cpu: 2.5, memoryMiB: 7168, gpu: 0 });
    assert.equal(a.health, 'Ready');
    assert.equal(a.cordoned, false);
    assert.deepEqual(a.labels, { zone: 'a' });
    assert.deepEqual(a.capabilities, { criu: false });
    assert.deepEqual(a.cachedDigests, [{ digest: DIGEST, sizeBytes: 1234 }]);
    assert.ok(Date.parse(a.heartbeatAt));
  });

  test('an operator cordons and uncordons a node; an unknown node is 404', async () => {
    const operator = { token: TOKENS.operator };
    const cordoned = await call(gateway.url, 'POST', '/v1/nodes/node-a/cordon', operator);
    assert.equal(cordoned.status, 200);
    assert.equal((cordoned.body as NodeResponse).cordoned, true);
    assert.equal((await nodes.get('node-a'))?.cordoned, true);
    const uncordoned = await call(gateway.url, 'POST', '/v1/nodes/node-a/uncordon', operator);
    assert.equal((uncordoned.body as NodeResponse).cordoned, false);
    const unknown = await call(gateway.url, 'POST', '/v1/nodes/node-zz/cordon', operator);
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'not_found');
  });

  test('a node named like a cloud Node (ip-10-0-0-1.ec2.internal) is listed, cordoned and drained by that name', async () => {
    const id = 'ip-10-0-0-1.ec2.internal';
    await sessions.register({ id, labels: {}, capacity: { cpu: 2, memoryMiB: 2048, gpu: 0 }, agentUrl, capabilities: {} }, 's-dots');
    const listed = ((await call(gateway.url, 'GET', '/v1/nodes')).body as { items: NodeResponse[] }).items.map((n) => n.id);
    assert.ok(listed.includes(id), JSON.stringify(listed));
    const operator = { token: TOKENS.operator };
    const cordoned = await call(gateway.url, 'POST', `/v1/nodes/${id}/cordon`, operator);
    assert.equal(cordoned.status, 200);
    assert.equal((cordoned.body as NodeResponse).id, id);
    assert.equal((await nodes.get(id))?.cordoned, true);
    const drained = await call(gateway.url, 'POST', `/v1/nodes/${id}/drain`, operator);
    assert.equal(drained.status, 202);
    // The drain job is on the node's own queue, named after the dotted id.
    const queue = new Queue(nodeQueueName(id), { connection: traces.redis, prefix: bullPrefix(prefix) });
    try {
      assert.equal((await queue.getJob('drain-node'))?.name, 'drain-node');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  test('a tenant may not cordon or uncordon: 403 in the error shape, and the node is unchanged', async () => {
    for (const action of ['cordon', 'uncordon']) {
      const res = await call(gateway.url, 'POST', `/v1/nodes/node-a/${action}`, { token: TOKENS.beta });
      assert.equal(res.status, 403, action);
      assert.deepEqual(errorOf(res), {
        code: 'forbidden',
        message: 'this is a cluster operation: it needs an operator token',
        details: [],
      });
    }
    assert.equal((await nodes.get('node-a'))?.cordoned, false);
  });

  test("a tenant sees its own pods and checkpoints on a node and only counts of others'; an operator sees all", async () => {
    await sessions.register(
      { id: 'node-shared', labels: {}, capacity: { cpu: 4, memoryMiB: 8192, gpu: 0 }, agentUrl, capabilities: {} },
      'sess-1',
    );
    const mine = await podOn('node-shared', 'alpha');
    const theirs = await podOn('node-shared', 'beta');
    const write = await sessions.applyInventory('node-shared', 'sess-1', { images: [], runningPods: [mine, theirs], checkpoints: [] });
    assert.equal(write, 'applied');
    const view = async (token: string) =>
      ((await call(gateway.url, 'GET', '/v1/nodes', { token })).body as { items: NodeResponse[] }).items.find(
        (n) => n.id === 'node-shared',
      );
    const alpha = await view(TOKENS.alpha);
    assert.deepEqual(alpha?.runningPods, [mine]);
    assert.deepEqual(alpha?.hidden, { runningPods: 1, checkpoints: 0 });
    const operator = await view(TOKENS.operator);
    assert.deepEqual(new Set(operator?.runningPods), new Set([mine, theirs]));
    assert.deepEqual(operator?.hidden, { runningPods: 0, checkpoints: 0 });
  });
});

describe('GET /v1/pods/{id}/logs', () => {
  test("proxies to the agent of the pod's node, as text", async () => {
    const id = await podOn('node-a');
    const res = await fetch(`${gateway.url}/v1/pods/${id}/logs?tail=5`, { headers: { authorization: `Bearer ${TOKENS.alpha}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'line 1\nline 2\n');
    assert.ok(agentRequests.includes(`/pods/${id}/logs?tail=5`), JSON.stringify(agentRequests));
  });

  test('is empty while the pod is not on a node', async () => {
    const id = await podOn(undefined);
    const res = await fetch(`${gateway.url}/v1/pods/${id}/logs`, { headers: { authorization: `Bearer ${TOKENS.alpha}` } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  test('is 503 node_unavailable when the agent does not answer', async () => {
    const id = await podOn('node-gone');
    const res = await call(gateway.url, 'GET', `/v1/pods/${id}/logs`);
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).code, 'node_unavailable');
  });

  test("is 404 for another tenant's pod and 400 for a bad tail", async () => {
    const id = await podOn('node-a', 'beta');
    assert.equal((await call(gateway.url, 'GET', `/v1/pods/${id}/logs`)).status, 404);
    const bad = await call(gateway.url, 'GET', `/v1/pods/${id}/logs?tail=-1`, { token: TOKENS.beta });
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad).details[0]?.path, 'query.tail');
  });
});

describe('DELETE /v1/pods/{id} of a pod on a node', () => {
  test('marks the stop and sends stop-pod to that node', async () => {
    const id = await podOn('node-a');
    const res = await call(gateway.url, 'DELETE', `/v1/pods/${id}`, { headers: { 'x-request-id': 'req-stop-1' } });
    assert.equal(res.status, 202);
    assert.equal((res.body as PodRecord).phase, 'Scheduled', 'the agent moves it to Stopped');
    assert.equal(await pods.isStopRequested(id), true);
    const queue = new Queue(nodeQueueName('node-a'), { connection: traces.redis, prefix: bullPrefix(prefix) });
    const job = await queue.getJob(`stop-pod-${id}`);
    assert.ok(job);
    assert.deepEqual(job.data, { podId: id, requestId: 'req-stop-1', reason: 'user' });
    await queue.close();
  });

  test('leaves a finished pod alone', async () => {
    const id = await podOn('node-a');
    await pods.transition(id, 'Failed', { error: 'boom' }, 'node-a');
    const res = await call(gateway.url, 'DELETE', `/v1/pods/${id}`);
    assert.equal(res.status, 202);
    assert.equal((res.body as PodRecord).phase, 'Failed');
    assert.equal(await pods.isStopRequested(id), false);
  });
});
