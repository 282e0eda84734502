import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentJobError } from '@warmpod/jobs';
import { READINESS_RESTARTS_MAX } from './pod-start-plan';
import { FakeNode, scheduledPod } from './testing/fake-node';

const READINESS = {
  readiness: {
    condition: { type: 'http' as const, port: 8080, path: '/healthz' },
    timeoutSeconds: 5,
    intervalMs: 100,
    successThreshold: 1,
  },
};

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !until(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(until(), 'condition never held');
}

describe('PodStarter on a fake node: readiness', () => {
  test('a pod with readiness is probed with its ports closed, then exposed and Running with its ready time', async () => {
    const node = new FakeNode({ canCheckpoint: false });
    const pod = node.pods.add(scheduledPod({ spec: READINESS }));
    await node.lifecycle.starter.start(pod.id);
    const running = node.pod(pod.id);
    assert.deepEqual(node.probe.probed, [pod.id]);
    assert.deepEqual(node.probe.exposedWhileProbed, [], 'no port open while the pod was not ready');
    assert.equal(running.phase, 'Running');
    assert.equal(running.endpoints.length, 1);
    assert.ok(running.ready);
    assert.equal(running.timeline.Ready, running.ready);
  });

  test('a pod without readiness is ready at once: no probe, ready recorded', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod());
    await node.lifecycle.starter.start(pod.id);
    assert.deepEqual(node.probe.probed, []);
    assert.ok(node.pod(pod.id).ready);
  });

  test('restartPolicy Never: a readiness that never holds fails the pod with the reason; nothing left, never exposed', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ spec: READINESS }));
    node.nodes.reserved.add(pod.id);
    node.probe.afterStart = 'never';
    await assert.rejects(node.lifecycle.starter.start(pod.id), PermanentJobError);
    const failed = node.pod(pod.id);
    assert.equal(failed.phase, 'Failed');
    assert.match(failed.error ?? '', /^readiness http :8080\/healthz not met within 5 s: .*connection refused$/);
    assert.equal(failed.ready, undefined);
    assert.deepEqual(node.probe.exposedWhileProbed, []);
    assert.equal(node.sandboxes.exposed.size, 0);
    assert.equal(node.runc.running.size, 0);
    assert.deepEqual(node.nodes.released, [pod.id]);
  });

  test('restartPolicy OnFailure: started again a few times, restarts counted, then Failed', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ spec: { ...READINESS, restartPolicy: 'OnFailure' } }));
    node.probe.afterStart = 'never';
    await assert.rejects(node.lifecycle.starter.start(pod.id), PermanentJobError);
    assert.equal(node.sandboxes.launches, READINESS_RESTARTS_MAX + 1);
    assert.equal(node.pod(pod.id).restarts, READINESS_RESTARTS_MAX);
    assert.equal(node.pod(pod.id).phase, 'Failed');
    assert.match(node.pod(pod.id).message ?? '', /^started again \(3\): readiness http/);
  });

  test('restartPolicy Always: a pod that gets ready on its second start runs', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ spec: { ...READINESS, restartPolicy: 'Always' } }));
    node.probe.nextStarts.push('never');
    await node.lifecycle.starter.start(pod.id);
    assert.equal(node.pod(pod.id).phase, 'Running');
    assert.equal(node.pod(pod.id).restarts, 1);
    assert.equal(node.sandboxes.launches, 2);
  });

  test('a pod that exits before it is ready ends as its exit says (Never): Failed with the code', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ spec: READINESS }));
    node.probe.afterStart = 'hang';
    const starting = node.lifecycle.starter.start(pod.id);
    await settle(() => node.probe.probed.length === 1);
    node.runc.exit(pod.id, 3);
    await starting;
    const ended = node.pod(pod.id);
    assert.equal(ended.phase, 'Failed');
    assert.equal(ended.exitCode, 3);
    assert.equal(ended.error, 'the pod exited with code 3 before it was ready');
  });

  test('a stop during the readiness wait ends the pod Stopped at once', async () => {
    const node = new FakeNode();
    const pod = node.pods.add(scheduledPod({ spec: READINESS }));
    node.probe.afterStart = 'hang';
    const starting = node.lifecycle.starter.start(pod.id);
    await settle(() => node.probe.probed.length === 1);
    node.pods.stopRequested.add(pod.id);
    await node.lifecycle.stopper.stop(pod.id);
    await starting;
    assert.equal(node.pod(pod.id).phase, 'Stopped');
    assert.equal(node.sandboxes.exposed.size, 0);
  });
});
