import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideAdoption } from './pod-adoption';
import { FakeNode, NODE, scheduledPod } from './testing/fake-node';

/** Lets queued promise work run (locks, exit watches) until `until` holds. */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !until(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(until(), 'condition never held');
}

describe('decideAdoption: what a restarted agent does with each pod it finds', () => {
  const running = scheduledPod({ phase: 'Running' });

  test('a Running pod here is adopted while its container runs (a paused one is thawed first)', () => {
    assert.deepEqual(decideAdoption(running, { podId: running.id, runcStatus: 'running' }, NODE), { kind: 'adopt', resume: false });
    assert.deepEqual(decideAdoption(running, { podId: running.id, runcStatus: 'paused' }, NODE), { kind: 'adopt', resume: true });
  });

  test('a Running pod whose container ended is recorded with its exit code; one with nothing left has vanished', () => {
    assert.deepEqual(decideAdoption(running, { podId: running.id, runcStatus: 'stopped', exitCode: 3 }, NODE), {
      kind: 'ended',
      exitCode: 3,
    });
    assert.deepEqual(decideAdoption(running, { podId: running.id }, NODE), { kind: 'vanished' });
  });

  test('a start under way (Scheduled to Restoring) is left to its start job, delivered again', () => {
    for (const phase of ['Scheduled', 'Pulling', 'Starting', 'Restoring'] as const) {
      const pod = scheduledPod({ phase });
      assert.deepEqual(decideAdoption(pod, { podId: pod.id, runcStatus: 'running' }, NODE), { kind: 'restart-start' });
    }
  });

  test('what nobody owns here is removed: no record, ended, Pending, placed elsewhere; only an ended pod here is released', () => {
    const ended = scheduledPod({ phase: 'Succeeded' });
    const elsewhere = scheduledPod({ phase: 'Running', node: 'node-b' });
    assert.equal(decideAdoption(undefined, { podId: 'x' }, NODE).kind, 'remove');
    assert.deepEqual(decideAdoption(ended, { podId: ended.id }, NODE), {
      kind: 'remove',
      reason: `not this node's (${NODE}): pod is Succeeded`,
      release: true,
    });
    assert.deepEqual(decideAdoption(elsewhere, { podId: elsewhere.id, runcStatus: 'running' }, NODE), {
      kind: 'remove',
      reason: `not this node's (${NODE}): pod is placed on node-b`,
      release: false,
    });
  });
});

describe('PodAdopter on a fake node: an agent restart loses no pod', () => {
  test('cold, warm-pool and restored pods stay Running with the same container and endpoints; their exits are watched again', async () => {
    const node = new FakeNode();
    const cold = await node.placeAndStart();
    const warm = await node.placeAndStart();
    node.pod(warm.id).startMode = 'warm-pool';
    const template = scheduledPod({ checkpoint: true });
    node.checkpoints.offer(template);
    const restored = await node.placeAndStart({ checkpoint: true, spec: template.spec });
    assert.equal(restored.startMode, 'restored');
    const launchesBefore = node.sandboxes.launches + node.sandboxes.restores;

    const agent = node.restartAgent();
    const counts = await agent.adopter.adoptAll();

    assert.equal(counts.adopt, 3);
    for (const id of [cold.id, warm.id, restored.id]) {
      const pod = node.pod(id);
      assert.equal(pod.phase, 'Running');
      assert.equal(pod.restarts, 0);
      assert.ok(node.runc.running.has(id), 'the same container runs on');
      assert.ok(node.sandboxes.exposed.has(id), 'its ports are open again');
    }
    assert.equal(node.pod(warm.id).startMode, 'warm-pool');
    assert.deepEqual(node.pod(cold.id).endpoints, cold.endpoints);
    assert.deepEqual(node.sandboxes.reexposed.sort(), [cold.id, warm.id, restored.id].sort());
    assert.equal(node.sandboxes.teardowns.length, 0);
    assert.equal(node.sandboxes.launches + node.sandboxes.restores, launchesBefore, 'nothing started again');

    node.runc.exit(cold.id, 0);
    node.runc.exit(warm.id, 7);
    await settle(() => node.pod(cold.id).phase === 'Succeeded' && node.pod(warm.id).phase === 'Failed');
    assert.equal(node.pod(warm.id).exitCode, 7);
    assert.deepEqual(node.nodes.released.sort(), [cold.id, warm.id].sort());
  });

  test('containers that ended while the agent was down are recorded as the exit watch would have, once', async () => {
    const node = new FakeNode();
    const ok = await node.placeAndStart();
    const bad = await node.placeAndStart();
    const asked = await node.placeAndStart();
    node.runc.dropWaiters(); // the agent is dead: nobody hears these exits
    node.runc.exit(ok.id, 0);
    node.runc.exit(bad.id, 2);
    node.pods.stopRequested.add(asked.id);
    node.runc.exit(asked.id, 143);

    const counts = await node.restartAgent().adopter.adoptAll();

    assert.equal(counts.ended, 3);
    assert.equal(node.pod(ok.id).phase, 'Succeeded');
    assert.equal(node.pod(ok.id).exitCode, 0);
    assert.equal(node.pod(bad.id).phase, 'Failed');
    assert.equal(node.pod(bad.id).exitCode, 2);
    assert.equal(node.pod(bad.id).error, 'exited with code 2');
    assert.equal(node.pod(asked.id).phase, 'Stopped');
    assert.deepEqual(node.nodes.released.sort(), [ok.id, bad.id, asked.id].sort());
    assert.deepEqual(node.sandboxes.teardowns.sort(), [ok.id, bad.id, asked.id].sort(), 'artifacts removed');
    assert.equal(node.nodes.reserved.size, 0);
  });

  test('a Running pod whose container is gone without an exit ends Failed and gives its reservation back', async () => {
    const node = new FakeNode();
    const pod = await node.placeAndStart();
    node.runc.dropWaiters();
    node.runc.forget(pod.id);
    await node.restartAgent().adopter.adoptAll();
    assert.equal(node.pod(pod.id).phase, 'Failed');
    assert.match(node.pod(pod.id).error!, /gone when the node agent restarted/);
    assert.deepEqual(node.nodes.released, [pod.id]);
  });

  test('a pod frozen by a checkpoint the dead agent was taking is thawed and adopted', async () => {
    const node = new FakeNode();
    const pod = await node.placeAndStart();
    node.runc.paused.add(pod.id);
    await node.restartAgent().adopter.adoptAll();
    assert.deepEqual(node.runc.resumed, [pod.id]);
    assert.equal(node.pod(pod.id).phase, 'Running');
  });

  test('a pod Starting mid-checkpoint: its attempt is removed, and the start job delivered again starts and checkpoints it anew', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true, phase: 'Starting' }));
    node.nodes.reserved.add(pod.id);
    node.cache.digests.add(pod.image.digest); // pulled before it started
    // Launched, not exposed, waiting for its condition when the agent died.
    node.runc.running.add(pod.id);
    node.sandboxes.onNode.set(pod.id, '10.0.0.9');

    const agent = node.restartAgent();
    assert.equal((await agent.adopter.adoptAll())['restart-start'], 1);
    assert.equal(node.runc.running.size, 0, 'the half-started container is gone');
    assert.equal(node.pod(pod.id).phase, 'Starting', 'the pod is left to its start job');

    await agent.starter.start(pod.id);
    assert.equal(node.pod(pod.id).phase, 'Running');
    assert.equal(node.checkpoints.lookups, 0, 'a start that got past restoring does not restore');
    assert.equal(node.checkpoints.taken.length, 1);
  });

  test('only what nobody owns is removed: no record, placed elsewhere, ended; stray netns and cgroups too', async () => {
    const node = new FakeNode();
    const mine = await node.placeAndStart();
    const moved = await node.placeAndStart();
    node.pod(moved.id).node = 'node-b';
    const ended = await node.placeAndStart();
    node.pod(ended.id).phase = 'Stopped';
    node.runc.running.add('pod-00000000000000000000');
    node.sandboxes.onNode.set('pod-11111111111111111111', undefined);
    node.runc.cgroups.add('pod-22222222222222222222');

    const counts = await node.restartAgent().adopter.adoptAll();

    assert.deepEqual({ adopt: counts.adopt, remove: counts.remove, failed: counts.failed }, { adopt: 1, remove: 5, failed: 0 });
    assert.deepEqual([...node.runc.running], [mine.id]);
    assert.deepEqual([...node.sandboxes.onNode.keys()], [mine.id]);
    assert.equal(node.runc.cgroups.size, 0);
    assert.equal(node.pod(moved.id).phase, 'Running', "another node's pod record is not touched");
    assert.deepEqual(node.nodes.released, [ended.id]);
  });

  test('a pod whose endpoints cannot be opened again ends Failed, torn down and released, never half adopted', async () => {
    const node = new FakeNode();
    const pod = await node.placeAndStart();
    node.sandboxes.reexposeError = new Error('listen EADDRINUSE 127.0.0.1:38080');
    const counts = await node.restartAgent().adopter.adoptAll();
    assert.equal(counts.failed, 1);
    assert.equal(node.pod(pod.id).phase, 'Failed');
    assert.match(node.pod(pod.id).error!, /not adopted after an agent restart: listen EADDRINUSE/);
    assert.equal(node.runc.running.size, 0);
    assert.deepEqual(node.nodes.released, [pod.id]);
  });
});
