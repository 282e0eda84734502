import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideEvacuation } from './node-drain';
import { FakeNode, NODE, scheduledPod } from './testing/fake-node';

describe('decideEvacuation: what a draining node does with each pod reserved there', () => {
  test('live pods here move when they may restart and stop when they may not; the rest only release', () => {
    const always = scheduledPod({ phase: 'Running', spec: { restartPolicy: 'Always' } });
    const onFailure = scheduledPod({ phase: 'Starting', spec: { restartPolicy: 'OnFailure' } });
    const never = scheduledPod({ phase: 'Running' });
    assert.equal(decideEvacuation(always, NODE), 'move');
    assert.equal(decideEvacuation(onFailure, NODE), 'move');
    assert.equal(decideEvacuation(never, NODE), 'stop');
    assert.equal(decideEvacuation(undefined, NODE), 'release');
    assert.equal(decideEvacuation(scheduledPod({ phase: 'Succeeded' }), NODE), 'release');
    assert.equal(decideEvacuation(scheduledPod({ phase: 'Running', node: 'node-b' }), NODE), 'release');
  });

  test('a Pending pod reserved here is being placed here: waited for, not released under the scheduler', () => {
    const placing = scheduledPod({ phase: 'Pending' });
    delete placing.node;
    assert.equal(decideEvacuation(placing, NODE), 'wait');
  });
});

describe('NodeDrainer on a fake node', () => {
  test('restartable pods go back to Pending elsewhere, Never pods end Stopped with the reason; nothing stays reserved', async () => {
    const node = new FakeNode();
    const moved = await node.placeAndStart({ spec: { restartPolicy: 'Always' } });
    const stopped = await node.placeAndStart();
    node.nodes.reserved.add('pod-gone');
    const counts = await node.lifecycle.drainer.drain(1_000, 1);

    assert.deepEqual(
      { move: counts.move, stop: counts.stop, release: counts.release, failed: counts.failed },
      { move: 1, stop: 1, release: 1, failed: 0 },
    );
    assert.deepEqual(node.phasesOf(moved.id).slice(-2), ['Lost', 'Pending']);
    assert.equal(node.pod(moved.id).restarts, 1);
    assert.equal(node.pod(moved.id).node, undefined);
    assert.deepEqual(node.rescheduled, [{ podId: moved.id, generation: 1 }]);
    assert.equal(node.pod(stopped.id).phase, 'Stopped');
    assert.equal(node.pod(stopped.id).error, `node ${NODE} was drained`);
    assert.ok(node.sandboxes.teardowns.includes(moved.id) && node.sandboxes.teardowns.includes(stopped.id));
    assert.equal(node.nodes.reserved.size, 0);
  });

  test('a pod a scheduler is placing here is waited for, then moved once it is Scheduled here', async () => {
    const node = new FakeNode();
    const pod = scheduledPod({ phase: 'Pending', spec: { restartPolicy: 'OnFailure' } });
    delete pod.node;
    node.pods.add(pod);
    node.nodes.reserved.add(pod.id);
    const draining = node.lifecycle.drainer.drain(5_000, 1);
    await new Promise((r) => setTimeout(r, 20));
    const record = node.pod(pod.id);
    record.phase = 'Scheduled';
    record.node = NODE;
    const counts = await draining;
    assert.ok(counts.wait >= 1);
    assert.equal(counts.move, 1);
    assert.equal(node.pod(pod.id).phase, 'Pending');
    assert.deepEqual(node.rescheduled, [{ podId: pod.id, generation: 1 }]);
  });

  test('a start under way (waiting for its checkpoint condition) is cut short and the pod moved, not ended Stopped', async () => {
    const node = new FakeNode();
    node.probe.afterStart = 'hang';
    const pod = node.pods.add(scheduledPod({ checkpoint: true, spec: { restartPolicy: 'OnFailure' } }));
    node.nodes.reserved.add(pod.id);
    const starting = node.lifecycle.starter.start(pod.id);
    for (let i = 0; i < 100 && node.pod(pod.id).phase !== 'Starting'; i++) await new Promise((r) => setImmediate(r));
    assert.equal(node.pod(pod.id).phase, 'Starting');
    const counts = await node.lifecycle.drainer.drain(1_000, 1);
    await starting;
    assert.equal(counts.move, 1);
    assert.deepEqual(node.phasesOf(pod.id).slice(-2), ['Lost', 'Pending']);
    assert.deepEqual(node.rescheduled, [{ podId: pod.id, generation: 1 }]);
  });

  test('past its wait, a pod never placed here is released so the node can leave', async () => {
    const node = new FakeNode();
    const pod = scheduledPod({ phase: 'Pending' });
    delete pod.node;
    node.pods.add(pod);
    node.nodes.reserved.add(pod.id);
    const counts = await node.lifecycle.drainer.drain(10, 1);
    assert.equal(counts.release, 1);
    assert.equal(node.nodes.reserved.size, 0);
    assert.equal(node.pod(pod.id).phase, 'Pending');
  });
});
