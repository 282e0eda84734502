import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { NodeRuntimeError } from '@warmpod/node-runtime';
import { CheckpointFetchError } from './checkpoint-artifacts';
import { FakeNode, scheduledPod } from './testing/fake-node';

/** Lets queued promise work run (locks, exit watches). */
async function settle(until: () => boolean = () => true): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(until(), 'condition never held');
}

describe('PodStarter on a fake node: how a pod starts', () => {
  test('a digest not on the node is pulled first, recorded for placement, and the pod starts cold', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod());
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Pulling', 'Starting', 'Running']);
    assert.equal(node.pod(pod.id).startMode, 'cold');
    assert.equal(node.cache.fetches, 1);
    assert.deepEqual(node.nodes.cachedDigests, [pod.image.digest]);
    assert.deepEqual(node.pod(pod.id).endpoints, [{ containerPort: 8080, address: '127.0.0.1:38080' }]);
  });

  test('a cached digest skips the pull: no Pulling phase, nothing fetched, warm-cache', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod());
    node.cache.digests.add(pod.image.digest);
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Starting', 'Running']);
    assert.equal(node.pod(pod.id).startMode, 'warm-cache');
    assert.equal(node.cache.fetches, 0);
    assert.deepEqual(node.nodes.cachedDigests, []);
  });

  test('with a compatible checkpoint the pod is restored, confirmed ready, exposed and Running as restored', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    const candidate = node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Pulling', 'Restoring', 'Running']);
    const running = node.pod(pod.id);
    assert.equal(running.startMode, 'restored');
    assert.deepEqual(running.checkpoint, { restoredFrom: candidate.record.id });
    assert.equal(running.endpoints.length, 1);
    assert.deepEqual(node.checkpoints.restoredFrom, [candidate.record.id]);
    assert.equal(node.sandboxes.launches, 0, 'no normal start beside the restore');
    assert.equal(node.checkpoints.taken.length, 0, 'a restored pod is not checkpointed again');
    assert.deepEqual([...node.sandboxes.cpuLimited], [pod.id], 'the restored pod is under its CPU quota');
    assert.deepEqual(node.sandboxes.exposedWithoutCpuLimit, [], 'its quota was set before its ports opened');
  });

  test('a failed restore is recorded on the checkpoint and the pod falls back to a normal start in the same job', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    const candidate = node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    node.sandboxes.restoreBehaviour = new Error('criu: corrupted pages');
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Pulling', 'Restoring', 'Starting', 'Running']);
    const reason = `restore from ${candidate.record.id} failed: criu: corrupted pages`;
    assert.deepEqual(node.checkpoints.restoreFailures, [{ id: candidate.record.id, reason }]);
    const running = node.pod(pod.id);
    assert.equal(running.startMode, 'fallback');
    assert.equal(running.checkpoint?.restoredFrom, candidate.record.id);
    assert.equal(running.checkpoint?.error, reason);
    assert.equal(running.checkpoint?.taken, node.checkpoints.taken[0]?.id, 'the fallback start takes a fresh checkpoint');
    assert.ok(node.sandboxes.teardowns.includes(pod.id), 'the failed attempt is torn down');
    assert.equal(node.sandboxes.launches, 1);
  });

  test('a checkpoint another node pushed is fetched during Restoring, then restored', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    const remote = node.checkpoints.offerRemote(scheduledPod({ checkpoint: true }));
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Pulling', 'Restoring', 'Running']);
    assert.deepEqual(node.checkpoints.fetched, [remote.record.id]);
    assert.equal(node.pod(pod.id).startMode, 'restored');
    assert.deepEqual(node.checkpoints.restoredFrom, [remote.record.id]);
  });

  test('a damaged artifact counts on the checkpoint; a registry that is down only falls back: both start normally in the same job', async () => {
    for (const damaged of [true, false]) {
      const node = new FakeNode();
      const pod = node.pods.add(scheduledPod({ checkpoint: true }));
      const remote = node.checkpoints.offerRemote(scheduledPod({ checkpoint: true }));
      const why = damaged ? 'CRIU image pages-1.img failed verification' : 'registry 127.0.0.1:5000 did not answer';
      node.checkpoints.fetchBehaviour = new CheckpointFetchError(why, damaged);
      await node.lifecycle.starter.start(pod.id);
      assert.deepEqual(node.phasesOf(pod.id), ['Scheduled', 'Pulling', 'Restoring', 'Starting', 'Running']);
      const running = node.pod(pod.id);
      assert.equal(running.startMode, 'fallback');
      assert.equal(running.checkpoint?.restoredFrom, remote.record.id);
      assert.equal(running.checkpoint?.error, `restore from ${remote.record.id} failed: ${why}`);
      assert.equal(node.checkpoints.restoreFailures.length, damaged ? 1 : 0, `damaged: ${damaged}`);
      assert.equal(node.sandboxes.restores, 0, 'nothing restored from a checkpoint that was not fetched');
    }
  });

  test('a restored pod that never gets ready counts as a failed restore too', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    node.probe.afterRestore = 'never';
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.checkpoints.restoreFailures.length, 1);
    assert.match(node.checkpoints.restoreFailures[0]?.reason ?? '', /connection refused/);
    assert.equal(node.pod(pod.id).startMode, 'fallback');
  });

  test('a stop during a restore ends the pod Stopped and is not a restore failure', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    node.sandboxes.restoreBehaviour = 'hang';
    const starting = node.lifecycle.starter.start(pod.id);
    await settle(() => node.sandboxes.restores === 1);
    node.pods.stopRequested.add(pod.id);
    await node.lifecycle.stopper.stop(pod.id);
    await starting;
    assert.equal(node.pod(pod.id).phase, 'Stopped');
    assert.deepEqual(node.checkpoints.restoreFailures, []);
    assert.equal(node.sandboxes.launches, 0, 'no fallback start after a stop');
    assert.ok(node.nodes.released.includes(pod.id));
    assert.equal(node.runc.running.size, 0);
  });

  test('checkpointing off for the pod: a cold start, no checkpoint looked up or taken', async () => {
    const node = new FakeNode();
    const pod = node.pods.add({
      ...scheduledPod({ checkpoint: true }),
      checkpointing: { enabled: false, code: 'policy', reason: 'off for this tenant' },
    });
    node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.pod(pod.id).startMode, 'cold');
    assert.equal(node.checkpoints.lookups, 0);
    assert.equal(node.checkpoints.taken.length, 0);
    assert.equal(node.pod(pod.id).endpoints.length, 1);
  });

  test('a node that cannot checkpoint starts a checkpointed pod plainly', async () => {
    const node = new FakeNode({ canCheckpoint: false });
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.cache.digests.add(pod.image.digest);
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.pod(pod.id).startMode, 'warm-cache');
    assert.equal(node.pod(pod.id).checkpoint, undefined);
  });

  test('without a checkpoint the pod starts, is checkpointed once ready, then exposed: cold even on a cached digest', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.cache.digests.add(pod.image.digest);
    await node.lifecycle.starter.start(pod.id);
    const running = node.pod(pod.id);
    assert.equal(running.startMode, 'cold');
    assert.equal(node.checkpoints.lookups, 1);
    assert.deepEqual(running.checkpoint, { taken: node.checkpoints.taken[0]?.id });
    assert.equal(running.endpoints.length, 1);
  });

  test('a checkpoint condition that never holds is a readiness failure: no checkpoint, never exposed, Failed with the reason', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.probe.afterStart = 'never';
    await assert.rejects(node.lifecycle.starter.start(pod.id), PermanentJobError);
    const failed = node.pod(pod.id);
    assert.equal(failed.phase, 'Failed');
    assert.match(failed.error ?? '', /^readiness tcp :8080 not met within 5 s: not ready by the deadline .*connection refused$/);
    assert.equal(node.checkpoints.taken.length, 0);
    assert.deepEqual(node.probe.exposedWhileProbed, []);
    assert.equal(failed.endpoints.length, 0);
    assert.deepEqual(node.nodes.released, [pod.id]);
  });

  test('a checkpoint that fails once the pod is ready is recorded; the pod is ready, exposed and runs', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true }));
    node.checkpoints.failTake = 'criu: dump failed';
    await node.lifecycle.starter.start(pod.id);
    const running = node.pod(pod.id);
    assert.equal(running.phase, 'Running');
    assert.equal(running.checkpoint?.error, 'checkpoint failed: criu: dump failed');
    assert.ok(running.ready);
    assert.equal(running.endpoints.length, 1);
  });

  test('a job run twice, one after the other or at once, starts one container', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod());
    await node.lifecycle.starter.start(pod.id);
    await node.lifecycle.starter.start(pod.id);
    const other = node.pods.add(scheduledPod());
    await Promise.all([node.lifecycle.starter.start(other.id), node.lifecycle.starter.start(other.id)]);
    assert.equal(node.sandboxes.launches, 2);
    assert.equal(node.pod(pod.id).phase, 'Running');
    assert.equal(node.pod(other.id).phase, 'Running');
  });

  test('a Running write whose reply was lost to a Redis restart (resent, it finds its own result) keeps the pod', async () => {
    const node = new FakeNode();
    node.pods.lostReplies.add('Running');
    const pod = node.pods.add(scheduledPod());
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.pod(pod.id).phase, 'Running');
    assert.deepEqual(node.sandboxes.teardowns, [], 'its container is not torn down');
    assert.equal(node.sandboxes.launches, 1);
  });

  test('a pod a warm pool handed out Running, or one already ended, is left alone', async () => {
    const node = new FakeNode();
    const warm = node.pods.add({ ...scheduledPod({ phase: 'Running' }), startMode: 'warm-pool' });
    const ended = node.pods.add(scheduledPod({ phase: 'Stopped' }));
    await node.lifecycle.starter.start(warm.id);
    await node.lifecycle.starter.start(ended.id);
    await node.lifecycle.starter.start('pod-gone');
    assert.equal(node.sandboxes.launches, 0);
    assert.equal(node.pod(warm.id).startMode, 'warm-pool');
  });

  test('a retry that finds the pod Starting clears leftovers and starts normally without trying a restore', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ checkpoint: true, phase: 'Starting' }));
    node.cache.digests.add(pod.image.digest);
    node.checkpoints.offer(scheduledPod({ checkpoint: true }));
    await node.lifecycle.starter.start(pod.id, 2);
    assert.deepEqual(node.sandboxes.teardowns, [pod.id]);
    assert.equal(node.checkpoints.lookups, 0);
    assert.equal(node.sandboxes.restores, 0);
    assert.equal(node.pod(pod.id).startMode, 'cold');
  });

  test('a stop requested before the start ends the pod Stopped without a container', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod());
    node.pods.stopRequested.add(pod.id);
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.pod(pod.id).phase, 'Stopped');
    assert.equal(node.sandboxes.launches, 0);
    assert.deepEqual(node.nodes.released, [pod.id]);
  });

  test('a pod placed on another node fails the job for good and is not touched', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ node: 'node-b' }));
    await assert.rejects(node.lifecycle.starter.start(pod.id), PermanentJobError);
    assert.equal(node.pod(pod.id).phase, 'Scheduled');
  });

  test('a spec that cannot be built fails the pod for good; a passing fault is left to the retry', async () => {
    const node = new FakeNode();
    const broken = node.pods.add(scheduledPod());
    node.sandboxes.launchError = new NodeRuntimeError('build runtime spec', 'the image has no command');
    await assert.rejects(node.lifecycle.starter.start(broken.id), PermanentJobError);
    assert.equal(node.pod(broken.id).phase, 'Failed');
    assert.match(node.pod(broken.id).error ?? '', /no command/);

    const flaky = node.pods.add(scheduledPod());
    node.sandboxes.launchError = new Error('netns busy');
    await assert.rejects(node.lifecycle.starter.start(flaky.id), /netns busy/);
    assert.equal(node.pod(flaky.id).phase, 'Starting', 'not terminal: the queue retries');
    node.sandboxes.launchError = undefined;
    await node.lifecycle.starter.start(flaky.id, 2);
    assert.equal(node.pod(flaky.id).phase, 'Running');
  });

  test('a start job that gave up marks the pod Failed and releases it', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ phase: 'Pulling' }));
    await node.lifecycle.starter.giveUp(pod.id, new Error('registry unavailable'));
    assert.equal(node.pod(pod.id).phase, 'Failed');
    assert.equal(node.pod(pod.id).error, 'registry unavailable');
    assert.deepEqual(node.nodes.released, [pod.id]);
  });
});
