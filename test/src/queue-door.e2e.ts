import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FlowProducer, QueueEvents, Worker } from 'bullmq';
import {
  addThreePodFlow,
  podResultsOf,
  runPodProgressSchema,
  WarmpodJobError,
  WarmpodQueueClient,
  type RunPodProgress,
} from '@warmpod/client';
import { startCluster, stopClusterLeavingNothing, waitForPod, type E2eCluster } from './support';

/**
 * The queue door on a local cluster: pods run for real from run-pod jobs
 * added by a tenant's producer as its own Redis user (the users the cluster
 * made, as `npm start` does).
 */
describe('pods from a job queue, end to end', () => {
  let e: E2eCluster;
  let alpha: WarmpodQueueClient;

  before(async () => {
    e = await startCluster();
    alpha = new WarmpodQueueClient(e.cluster.producers['alpha']!);
  });

  after(async () => {
    await alpha?.close();
    await stopClusterLeavingNothing(e);
  });

  test('runPod waits for the end: progress follows the phases, the result is the pod record', async () => {
    const seen: RunPodProgress[] = [];
    const pod = await alpha.runPod(
      { image: 'warmpod/hello:latest', env: { GREETING: 'from a queue' } },
      { waitFor: 'Ended', jobId: 'hello-1', onProgress: (p) => seen.push(p) },
    );
    assert.equal(pod.phase, 'Succeeded');
    assert.equal(pod.exitCode, 0);
    assert.ok(pod.node && pod.startMode, JSON.stringify(pod));
    assert.match(pod.image.pinned, /@sha256:[a-f0-9]{64}$/);
    assert.ok(seen.length > 0 && seen.every((p) => p.podId === pod.id && p.timeline[p.phase] === p.at));
    const phases = seen.map((p) => p.phase);
    assert.deepEqual(
      phases,
      phases.slice().sort((a, b) => Date.parse(pod.timeline[a]!) - Date.parse(pod.timeline[b]!)),
      'in order',
    );
    const logs = await (await e.api(`/v1/pods/${pod.id}/logs`)).text();
    assert.match(logs, /from a queue/);
  });

  test('a failing pod fails its job with the exit code', async () => {
    await assert.rejects(alpha.runPod({ image: 'warmpod/hello:latest', command: ['sh', '-c', 'exit 3'] }, { waitFor: 'Ended' }), (err) => {
      assert.ok(err instanceof WarmpodJobError);
      assert.equal(err.code, 'pod_failed');
      assert.match(err.message, /exit code 3/);
      return true;
    });
  });

  test('waitFor Running gives the endpoints; removing the completed job stops the pod', async () => {
    const pod = await alpha.runPod({ image: 'warmpod/http:latest', ports: [8080] }, { waitFor: 'Running', jobId: 'web-1' });
    assert.equal(pod.phase, 'Running');
    assert.equal(pod.endpoints[0]?.containerPort, 8080);
    await (await alpha.queue.getJob('web-1'))!.remove();
    const stopped = await waitForPod(e, pod.id, (p) => p.phase === 'Stopped');
    assert.equal(stopped.phase, 'Stopped');
  });

  test('a cancel job stops a running pod and fails its run-pod job', async () => {
    const job = await alpha.addRunPod({ image: 'warmpod/sleeper:latest' }, { waitFor: 'Ended', jobId: 'sleepy-1' });
    const finished = alpha.finished(job).then(
      () => undefined,
      (err: unknown) => WarmpodJobError.fromFailedReason(err instanceof Error ? err.message : String(err)),
    );
    const podId = (await waitForRunning(alpha, 'sleepy-1')).podId;
    assert.deepEqual(await alpha.cancel('sleepy-1'), { removed: false, stopped: podId });
    assert.equal((await finished)?.code, 'pod_stopped');
    assert.equal((await waitForPod(e, podId, (p) => p.phase === 'Stopped')).phase, 'Stopped');
  });

  test('a BullMQ flow whose parent waits for three pods (the example in @warmpod/client)', async () => {
    const producer = e.cluster.producers['alpha']!;
    const connection = { url: producer.url, maxRetriesPerRequest: null };
    const parents = new Worker('reports', async (job) => (await podResultsOf(job)).map((p) => `${p.id}:${p.exitCode}`), {
      connection,
      prefix: producer.ownQueuesPrefix,
    });
    const events = new QueueEvents('reports', { connection, prefix: producer.ownQueuesPrefix });
    const flow = new FlowProducer({ connection });
    try {
      await events.waitUntilReady();
      const pod = (n: number) => ({ image: 'warmpod/hello:latest', env: { GREETING: `pod ${n}` }, waitFor: 'Ended' as const });
      const node = await addThreePodFlow(flow, producer, 'reports', 'nightly', [pod(1), pod(2), pod(3)]);
      const summary: unknown = await node.job.waitUntilFinished(events, 120_000);
      assert.ok(Array.isArray(summary) && summary.length === 3, JSON.stringify(summary));
      assert.ok(
        summary.every((s) => /^pod-[0-9a-z]{20}:0$/.test(s)),
        JSON.stringify(summary),
      );
    } finally {
      await flow.close();
      await events.close();
      await parents.close();
    }
  });
});

/** Polls a run-pod job's progress until its pod is Running. */
async function waitForRunning(client: WarmpodQueueClient, jobId: string): Promise<RunPodProgress> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const progress = runPodProgressSchema.safeParse((await client.queue.getJob(jobId))?.progress);
    if (progress.success && progress.data.phase === 'Running') return progress.data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not report Running`);
}
