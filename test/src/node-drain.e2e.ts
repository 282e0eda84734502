import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPod, podLeftovers, startCluster, stopClusterLeavingNothing, waitFor, waitForPod, type E2eCluster } from './support';

interface NodeJson {
  id: string;
  health: string;
  cordoned: boolean;
  draining: boolean;
}

async function nodes(e: E2eCluster): Promise<NodeJson[]> {
  return ((await (await e.api('/v1/nodes')).json()) as { items: NodeJson[] }).items;
}

describe('a node drained through the API, or its agent sent SIGUSR2, leaves the cluster', () => {
  let e: E2eCluster;

  before(async () => {
    e = await startCluster();
  });

  after(() => stopClusterLeavingNothing(e, { nodesChecked: true }));

  test('restartable pods move to another node, the others end Stopped with the reason, and the node is gone, never lost', async () => {
    const op = { token: e.operatorToken, method: 'POST' };
    // Both pods on node-2: node-1 is cordoned while they are placed.
    assert.equal((await e.api('/v1/nodes/node-1/cordon', op)).status, 200);
    const movable = await createPod(e, { image: 'warmpod/sleeper:latest', restartPolicy: 'Always' });
    const pinned = await createPod(e, { image: 'warmpod/sleeper:latest' });
    for (const id of [movable.id, pinned.id]) assert.equal((await waitForPod(e, id, (p) => p.phase === 'Running')).node, 'node-2');
    assert.equal((await e.api('/v1/nodes/node-1/uncordon', op)).status, 200);

    assert.equal((await e.api('/v1/nodes/node-2/drain', { method: 'POST' })).status, 403, 'tenants may not drain');
    assert.equal((await e.api('/v1/nodes/node-9/drain', op)).status, 404);
    const answer = await e.api('/v1/nodes/node-2/drain', op);
    assert.equal(answer.status, 202);
    const draining = (await answer.json()) as NodeJson;
    assert.equal(draining.draining, true);
    assert.equal(draining.cordoned, true);

    const moved = await waitForPod(e, movable.id, (p) => p.phase === 'Running' && p.node === 'node-1');
    assert.equal(moved.restarts, 1);
    assert.ok(moved.timeline['Lost'], 'the move stays in the timeline');
    const stopped = await waitForPod(e, pinned.id, (p) => p.phase === 'Stopped');
    assert.equal(stopped.error, 'node node-2 was drained');

    // Gone from the registry; while it left it never showed NotReady or lost.
    await waitFor('node-2 to leave', async () => ((await nodes(e)).some((n) => n.id === 'node-2') ? undefined : true));
    assert.deepEqual(
      (await nodes(e)).map((n) => [n.id, n.health]),
      [['node-1', 'Ready']],
    );
    assert.deepEqual(podLeftovers(e, 'node-2', pinned.id), []);
    // The moved pod's netns and overlay now live on node-1 under the same pod id: only its node-2 container is checked.
    assert.ok(!podLeftovers(e, 'node-2', movable.id).includes('container'));
    // Its agent left on purpose: it exited and was not started again.
    await waitFor('node-2 agent to exit', async () => (e.cluster.serviceRunning('node-2') ? undefined : true));

    // A new pod cannot go there any more.
    const after = await createPod(e, { image: 'warmpod/sleeper:latest' });
    assert.equal((await waitForPod(e, after.id, (p) => p.phase === 'Running')).node, 'node-1');

    // SIGUSR2 is the agent's own way to leave (SIGTERM would be a restart): the last node goes too.
    e.cluster.signalService('node-1', 'SIGUSR2');
    const stranded = await waitForPod(e, movable.id, (p) => p.phase === 'Pending' && p.restarts === 2);
    assert.equal(stranded.node, undefined, 'no node left to place it on');
    assert.equal((await waitForPod(e, after.id, (p) => p.phase === 'Stopped')).error, 'node node-1 was drained');
    await waitFor('node-1 to leave', async () => ((await nodes(e)).length === 0 ? true : undefined));
    await waitFor('node-1 agent to exit', async () => (e.cluster.serviceRunning('node-1') ? undefined : true));
    assert.deepEqual(podLeftovers(e, 'node-1', movable.id), []);
    await e.api(`/v1/pods/${movable.id}`, { method: 'DELETE' });
    await waitForPod(e, movable.id, (p) => p.phase === 'Stopped');
  });
});
