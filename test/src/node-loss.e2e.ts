import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPod, startCluster, stopClusterLeavingNothing, waitFor, waitForPod, type E2eCluster, type PodJson } from './support';

interface NodeJson {
  id: string;
  health: string;
}

function containersOn(e: E2eCluster, node: string): string[] {
  const out = execFileSync('runc', ['--root', join(e.workDir, 'nodes', node, 'runc'), 'list', '--format', 'json'], { encoding: 'utf8' });
  return ((JSON.parse(out || 'null') as Array<{ id: string }> | null) ?? []).map((c) => c.id);
}

async function nodeHealth(e: E2eCluster, id: string): Promise<string | undefined> {
  const nodes = (await (await e.api('/v1/nodes')).json()) as { items: NodeJson[] };
  return nodes.items.find((n) => n.id === id)?.health;
}

describe('a node that dies and comes back', () => {
  let e: E2eCluster;

  before(async () => {
    e = await startCluster();
  });

  after(() => stopClusterLeavingNothing(e, { nodesChecked: true }));

  test('its restartable pods move to another node, the others end Lost, and its stale containers are removed on return', async () => {
    const restartable = await createPod(e, { image: 'warmpod/sleeper:latest', restartPolicy: 'OnFailure', nodeSelector: {} });
    const first = await waitForPod(e, restartable.id, (p) => p.phase === 'Running');
    const doomed = first.node!;
    const survivor = doomed === 'node-1' ? 'node-2' : 'node-1';
    const zone = doomed === 'node-1' ? 'a' : 'b';
    const pinned = await createPod(e, { image: 'warmpod/sleeper:latest', nodeSelector: { zone } });
    await waitForPod(e, pinned.id, (p) => p.phase === 'Running');
    assert.deepEqual(containersOn(e, doomed).sort(), [restartable.id, pinned.id].sort());

    await e.cluster.killService(doomed);
    await waitFor('the node to turn NotReady', async () => ((await nodeHealth(e, doomed)) === 'NotReady' ? true : undefined));

    const moved = await waitForPod(e, restartable.id, (p: PodJson) => p.phase === 'Running' && p.node === survivor);
    assert.equal(moved.restarts, 1);
    assert.ok(moved.timeline['Lost'], 'the loss stays in the timeline');
    const lost = await waitForPod(e, pinned.id, (p) => p.phase === 'Lost');
    assert.match(lost.error!, new RegExp(`${doomed} stopped heartbeating`));

    // The dead agent's containers survived it (their shims are detached) until it returns.
    assert.deepEqual(containersOn(e, doomed).sort(), [restartable.id, pinned.id].sort());
    await e.cluster.restartService(doomed);
    await waitFor('the node to be Ready again', async () => ((await nodeHealth(e, doomed)) === 'Ready' ? true : undefined));
    assert.deepEqual(containersOn(e, doomed), [], 'the returning agent removed what nobody expects there');
    const still = (await (await e.api(`/v1/pods/${restartable.id}`)).json()) as PodJson;
    assert.equal(still.phase, 'Running');
    assert.equal(still.node, survivor);

    await e.api(`/v1/pods/${restartable.id}`, { method: 'DELETE' });
    await waitForPod(e, restartable.id, (p) => p.phase === 'Stopped');
  });
});
