import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { FakeNode, scheduledPod } from './testing/fake-node';

/** Lets queued promise work run (locks, exit watches), until `until` holds or a while when none is given. */
async function settle(until?: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !until?.(); i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (!until && i >= 10) return;
  }
  assert.ok(!until || until(), 'condition never held');
}

async function runningPod(node: FakeNode, opts: Parameters<typeof scheduledPod>[0] = {}): Promise<string> {
  const pod = node.pods.add(scheduledPod(opts));
  await node.lifecycle.starter.start(pod.id);
  assert.equal(node.pod(pod.id).phase, 'Running');
  return pod.id;
}

describe('PodExitWatcher on a fake node: how a running pod ends', () => {
  test('exit 0 is Succeeded, anything else Failed with the code; the pod is torn down and released', async () => {
    const node = new FakeNode();
    const ok = await runningPod(node);
    const bad = await runningPod(node);
    node.runc.exit(ok, 0);
    node.runc.exit(bad, 3);
    await settle(() => node.nodes.released.length === 2);
    assert.equal(node.pod(ok).phase, 'Succeeded');
    assert.equal(node.pod(ok).exitCode, 0);
    assert.equal(node.pod(bad).phase, 'Failed');
    assert.equal(node.pod(bad).error, 'exited with code 3');
    assert.deepEqual(node.pod(bad).endpoints, []);
    assert.ok(node.sandboxes.teardowns.includes(ok) && node.sandboxes.teardowns.includes(bad));
  });

  test('an exit after a stop was asked is Stopped', async () => {
    const node = new FakeNode();
    const id = await runningPod(node);
    node.pods.stopRequested.add(id);
    node.runc.exit(id, 137);
    await settle(() => node.nodes.released.includes(id));
    assert.equal(node.pod(id).phase, 'Stopped');
  });

  test("an exit of a pod now placed on another node is that node's to report", async () => {
    const node = new FakeNode();
    const id = await runningPod(node);
    node.pod(id).node = 'node-b';
    node.runc.exit(id, 1);
    await settle();
    assert.equal(node.pod(id).phase, 'Running');
    assert.deepEqual(node.nodes.released, []);
  });
});

describe('PodStopper on a fake node', () => {
  test('a stop ends the container and the pod is Stopped with its exit code, once', async () => {
    const node = new FakeNode();
    const id = await runningPod(node);
    await node.lifecycle.stopper.stop(id);
    await node.lifecycle.stopper.stop(id);
    assert.equal(node.pod(id).phase, 'Stopped');
    assert.equal(node.pod(id).exitCode, 143);
    assert.equal(node.runc.running.size, 0);
    assert.deepEqual(node.phasesOf(id).slice(-2), ['Running', 'Stopped']);
  });

  test('stopAll stops every container of this agent', async () => {
    const node = new FakeNode();
    const ids = [await runningPod(node), await runningPod(node)];
    await node.lifecycle.stopper.stopAll();
    assert.deepEqual(
      ids.map((id) => node.pod(id).phase),
      ['Stopped', 'Stopped'],
    );
  });

  test('a container the scheduler does not expect here is removed without touching its pod record', async () => {
    const node = new FakeNode();
    const id = await runningPod(node);
    await node.lifecycle.stopper.discard([id], 'not expected on this node');
    assert.equal(node.runc.running.size, 0);
    assert.ok(node.sandboxes.teardowns.includes(id));
    assert.equal(node.pod(id).phase, 'Running');
  });
});

describe('CheckpointOnDemand on a fake node', () => {
  test('a Running pod is checkpointed under the requested id and keeps running', async () => {
    const node = new FakeNode();
    const id = await runningPod(node);
    await node.lifecycle.checkpointOnDemand.take(id, 'ckpt-asked');
    assert.equal(node.checkpoints.taken[0]?.id, 'ckpt-asked');
    assert.deepEqual(node.pod(id).checkpoint, { taken: 'ckpt-asked' });
    assert.equal(node.pod(id).phase, 'Running');
  });

  test('a pod not running here, or a node without CRIU, refuses: the record says why and the job fails for good', async () => {
    const node = new FakeNode();
    const ended = node.pods.add(scheduledPod({ phase: 'Stopped' }));
    await assert.rejects(node.lifecycle.checkpointOnDemand.take(ended.id, 'ckpt-1'), PermanentJobError);
    assert.deepEqual(node.checkpoints.refused, [{ id: 'ckpt-1', reason: `pod ${ended.id} is not running on node-a` }]);

    const id = await runningPod(node);
    node.checkpoints.capable = false;
    await assert.rejects(node.lifecycle.checkpointOnDemand.take(id, 'ckpt-2'), /cannot checkpoint/);
    assert.equal(node.checkpoints.refused[1]?.id, 'ckpt-2');
    assert.equal(node.checkpoints.taken.length, 0);
  });

  test('retries run out: the record says why', async () => {
    const node = new FakeNode();
    await node.lifecycle.checkpointOnDemand.gaveUp('ckpt-3', new Error('redis unavailable'));
    assert.deepEqual(node.checkpoints.refused, [{ id: 'ckpt-3', reason: 'redis unavailable' }]);
  });
});
