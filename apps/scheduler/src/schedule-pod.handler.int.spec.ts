import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { newId, normaliseSpec, type PodRequest, type Resources } from '@warmpod/domain';
import { bullPrefix, JobBus, nodeQueueName, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger } from '@warmpod/observability';
import {
  ImageRepository,
  NodeRepository,
  NodeReservations,
  NodeSessions,
  PodRepository,
  PrepullHints,
  type NodeRegistration,
  type PodDefinition,
} from '@warmpod/store';
import { PlacementView } from './placement-view';
import { Backlog } from './backlog';
import { NoFitError, SchedulePodHandler } from './schedule-pod.handler';
import { dropKeys, redisOptions } from '@warmpod/devkit';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const DIGEST = `sha256:${'1'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'2'.repeat(64)}`;
const READY_WINDOW_MS = 60_000;
const logger = createLogger({ service: 'scheduler-int', level: 'silent' });
const META = { jobId: 'schedule-pod-test' };

let redis: Redis;
let counter = 0;
const closers: Array<() => Promise<unknown>> = [];

interface Scope {
  prefix: string;
  pods: PodRepository;
  nodes: NodeRepository;
  sessions: NodeSessions;
  reservations: NodeReservations;
  bus: JobBus;
  handler: SchedulePodHandler;
}

/** Repositories, bus and handler on a fresh prefix, so every test sees only its own nodes. */
function scope(reserving?: (prefix: string) => NodeReservations): Scope {
  const prefix = `${filePrefix}${++counter}:`;
  const pods = new PodRepository(redis, prefix);
  const reservations = reserving ? reserving(prefix) : new NodeReservations(redis, prefix);
  const bus = new JobBus(redis, prefix);
  closers.push(() => bus.close());
  const queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
  const backlog = new Backlog(redis, queue, prefix, logger);
  closers.push(() => queue.close());
  const view = new PlacementView(redis, reservations, prefix, READY_WINDOW_MS, logger);
  closers.push(() => view.stop());
  const ports = {
    pods,
    reservations,
    bus,
    backlog,
    hints: new PrepullHints(redis, prefix),
    view,
    images: new ImageRepository(redis, prefix),
  };
  const handler = new SchedulePodHandler(ports, logger);
  // The view follows Redis through change messages; tests read it in step with what they just wrote.
  const synced = Object.assign(Object.create(handler) as SchedulePodHandler, {
    run: async (...args: Parameters<SchedulePodHandler['run']>) => {
      await view.resync();
      return handler.run(...args);
    },
  });
  const nodes = new NodeRepository(redis, prefix);
  return { prefix, pods, nodes, sessions: new NodeSessions(redis, prefix), reservations, bus, handler: synced };
}

function node(id: string, capacity: Resources, labels: Record<string, string> = {}): NodeRegistration {
  return { id, labels, capacity, agentUrl: 'http://127.0.0.1:1', capabilities: { runtime: 'runc' } };
}

async function newPod(s: Scope, request: Omit<PodRequest, 'image'> = {}): Promise<PodDefinition> {
  const def: PodDefinition = {
    id: newId('pod'),
    tenant: 'acme',
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'team/web:latest', pinned: `registry.local:5000/team/web@${DIGEST}`, digest: DIGEST },
    spec: normaliseSpec({ image: 'team/web:latest', resources: { cpu: 0.5, memoryMiB: 256, gpu: 0 }, ...request }),
  };
  assert.equal((await s.pods.create(def)).kind, 'created');
  return def;
}

/** Jobs queued on a node's queue, as [id, name, data]. */
async function nodeJobs(s: Scope, nodeId: string): Promise<Array<[string | undefined, string, unknown]>> {
  const queue = new Queue(nodeQueueName(nodeId), { connection: redis, prefix: bullPrefix(s.prefix) });
  try {
    const jobs = await queue.getJobs(['wait', 'prioritized', 'delayed', 'active']);
    return jobs.map((j) => [j.id, j.name, j.data]);
  } finally {
    await queue.close();
  }
}

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

after(async () => {
  for (const close of closers) await close();
  if (!redis) return;
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

describe('SchedulePodHandler on real Redis', () => {
  test('a node holding the digest wins over an emptier one, and gets the start-pod job', async () => {
    const s = scope();
    await s.sessions.register(node('n-cached', { cpu: 4, memoryMiB: 4096, gpu: 0 }), 's-cached');
    await s.sessions.register(node('n-empty', { cpu: 4, memoryMiB: 4096, gpu: 0 }), 's-empty');
    // n-cached is the busier node: only its cache can make it win.
    assert.equal((await s.reservations.tryReserve('n-cached', 'pod-filler', { cpu: 2, memoryMiB: 2048, gpu: 0 })).reserved, true);
    const holding = (digest: string) => ({ images: [{ digest, sizeBytes: 10_000_000, layers: [] }], runningPods: [], checkpoints: [] });
    await s.sessions.applyInventory('n-cached', 's-cached', holding(DIGEST));
    await s.sessions.applyInventory('n-empty', 's-empty', holding(OTHER_DIGEST));
    const def = await newPod(s);

    await s.handler.run({ podId: def.id, requestId: 'req-cached' }, META);

    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Scheduled');
    assert.equal(pod?.node, 'n-cached');
    assert.deepEqual(pod?.placement, { node: 'n-cached', why: 'pinned digest already in node cache', candidates: 2, bytesToFetch: 0 });
    assert.match(pod!.placement!.why, /cache/);
    assert.equal(pod?.message, undefined);
    assert.ok(pod?.timeline.Scheduled);
    assert.deepEqual((await s.reservations.list('n-cached')).sort(), [def.id, 'pod-filler'].sort());
    assert.deepEqual(await s.reservations.list('n-empty'), []);
    assert.deepEqual((await s.nodes.get('n-cached'))?.allocated, { cpu: 2.5, memoryMiB: 2304, gpu: 0 });
    assert.deepEqual(await nodeJobs(s, 'n-cached'), [[`start-pod-${def.id}`, 'start-pod', { podId: def.id, requestId: 'req-cached' }]]);
    assert.deepEqual(await nodeJobs(s, 'n-empty'), []);
  });

  test("when nothing fits, the pod stays Pending with every node's reason and run() throws NoFitError", async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 1, memoryMiB: 4096, gpu: 0 }, { zone: 'a' }), '');
    await s.sessions.register(node('n-b', { cpu: 8, memoryMiB: 4096, gpu: 0 }, { zone: 'a' }), '');
    await s.nodes.setCordoned('n-b', true);
    await s.sessions.register(node('n-c', { cpu: 8, memoryMiB: 4096, gpu: 0 }, { zone: 'b' }), '');
    const def = await newPod(s, { resources: { cpu: 2, memoryMiB: 256, gpu: 0 }, nodeSelector: { zone: 'a' } });
    const reason = 'no node fits: 1 node: cordoned; 1 node: node selector mismatch; 1 node: insufficient cpu';

    await assert.rejects(s.handler.run({ podId: def.id, requestId: 'req-nofit' }, META), (error: unknown) => {
      assert.ok(error instanceof NoFitError);
      assert.equal(error.message, reason);
      return true;
    });
    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Pending');
    assert.equal(pod?.message, reason);
    assert.equal(pod?.node, undefined);
    for (const id of ['n-a', 'n-b', 'n-c']) {
      assert.deepEqual(await s.reservations.list(id), [], id);
      assert.deepEqual(await nodeJobs(s, id), [], id);
    }
  });

  test('with no nodes at all the reason says so', async () => {
    const s = scope();
    const def = await newPod(s);
    await assert.rejects(s.handler.run({ podId: def.id, requestId: 'req-none' }, META), {
      name: 'NoFitError',
      message: 'no node fits: no nodes registered',
    });
    assert.equal((await s.pods.get(def.id))?.message, 'no node fits: no nodes registered');
  });

  test('once a node fits, the next attempt schedules the pod and clears the Pending message', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    await s.nodes.setCordoned('n-a', true);
    const def = await newPod(s);
    await assert.rejects(s.handler.run({ podId: def.id, requestId: 'req-later' }, META), NoFitError);
    assert.equal((await s.pods.get(def.id))?.message, 'no node fits: 1 node: cordoned');

    await s.nodes.setCordoned('n-a', false);
    await s.handler.run({ podId: def.id, requestId: 'req-later' }, META);
    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Scheduled');
    assert.equal(pod?.message, undefined);
    assert.equal(pod?.placement?.node, 'n-a');
    assert.equal(pod?.placement?.candidates, 1);
    assert.match(pod!.placement!.why, /^least allocated \(\d+% free after placement\)$/);
  });

  test('when every candidate fills up during placement, the pod stays Pending and run() throws NoFitError', async () => {
    class FullNodes extends NodeReservations {
      override async tryReserve(): Promise<{ reserved: boolean; allocated: Resources }> {
        return { reserved: false, allocated: { cpu: 4, memoryMiB: 4096, gpu: 0 } };
      }
    }
    const s = scope((prefix) => new FullNodes(redis, prefix));
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await assert.rejects(s.handler.run({ podId: def.id, requestId: 'req-race' }, META), {
      name: 'NoFitError',
      message: 'all fitting nodes filled up during placement',
    });
    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Pending');
    assert.equal(pod?.message, 'all fitting nodes filled up during placement');
  });

  test('onGiveUp marks the pod Failed as unschedulable', async () => {
    const s = scope();
    const def = await newPod(s);
    const error = await s.handler.run({ podId: def.id, requestId: 'req-giveup' }, META).then(
      () => assert.fail('run() should have thrown'),
      (e: Error) => e,
    );
    await s.handler.onGiveUp({ podId: def.id, requestId: 'req-giveup' }, error);
    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Failed');
    assert.equal(pod?.error, 'unschedulable: no node fits: no nodes registered');
    assert.ok(pod?.timeline.Failed);
  });

  test('giving up on a pod that was already placed does not leave its reservation behind', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await s.handler.run({ podId: def.id, requestId: 'req-placed' }, META);
    assert.deepEqual(await s.reservations.list('n-a'), [def.id]);
    // E.g. the start-pod job could not be queued on any attempt.
    await s.handler.onGiveUp({ podId: def.id, requestId: 'req-placed' }, new Error('redis went away'));
    assert.deepEqual(
      {
        phase: (await s.pods.get(def.id))?.phase,
        reservations: await s.reservations.list('n-a'),
        allocated: (await s.nodes.get('n-a'))?.allocated,
      },
      { phase: 'Failed', reservations: [], allocated: { cpu: 0, memoryMiB: 0, gpu: 0 } },
    );
  });

  test('running twice in a row leaves one reservation and one start-pod job', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    await s.sessions.register(node('n-b', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await s.handler.run({ podId: def.id, requestId: 'req-twice' }, META);
    await s.handler.run({ podId: def.id, requestId: 'req-twice' }, META);
    const pod = await s.pods.get(def.id);
    assert.equal(pod?.phase, 'Scheduled');
    assert.equal(pod?.node, 'n-a');
    assert.deepEqual(await s.reservations.list('n-a'), [def.id]);
    assert.deepEqual(await s.reservations.list('n-b'), []);
    assert.deepEqual((await s.nodes.get('n-a'))?.allocated, { cpu: 0.5, memoryMiB: 256, gpu: 0 });
    assert.deepEqual(await nodeJobs(s, 'n-a'), [[`start-pod-${def.id}`, 'start-pod', { podId: def.id, requestId: 'req-twice' }]]);
    assert.deepEqual(await nodeJobs(s, 'n-b'), []);
  });

  test('two runs at the same time (a stalled job run again) leave the pod placed with its reservation', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await Promise.all([
      s.handler.run({ podId: def.id, requestId: 'req-both' }, META),
      s.handler.run({ podId: def.id, requestId: 'req-both' }, META),
    ]);
    assert.deepEqual(
      {
        phase: (await s.pods.get(def.id))?.phase,
        node: (await s.pods.get(def.id))?.node,
        reservations: await s.reservations.list('n-a'),
        allocated: (await s.nodes.get('n-a'))?.allocated,
        jobs: await nodeJobs(s, 'n-a'),
      },
      {
        phase: 'Scheduled',
        node: 'n-a',
        reservations: [def.id],
        allocated: { cpu: 0.5, memoryMiB: 256, gpu: 0 },
        jobs: [[`start-pod-${def.id}`, 'start-pod', { podId: def.id, requestId: 'req-both' }]],
      },
    );
  });

  test('a pod stopped before scheduling is left alone', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await s.pods.transition(def.id, 'Stopped', { message: 'stopped by the user before it was scheduled' });
    const before = await s.pods.get(def.id);
    await s.handler.run({ podId: def.id, requestId: 'req-stopped' }, META);
    assert.deepEqual(await s.pods.get(def.id), before);
    assert.deepEqual(await s.reservations.list('n-a'), []);
    assert.deepEqual(await nodeJobs(s, 'n-a'), []);
  });

  test('a pod deleted before scheduling is left alone', async () => {
    const s = scope();
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await s.pods.remove(def);
    await s.handler.run({ podId: def.id, requestId: 'req-deleted' }, META);
    assert.equal(await s.pods.get(def.id), undefined);
    assert.deepEqual(await s.reservations.list('n-a'), []);
    assert.deepEqual(await nodeJobs(s, 'n-a'), []);
  });

  test('a pod stopped while it is being placed gets its capacity back and no start-pod job', async () => {
    const target: { pods?: PodRepository } = {};
    /** Reserves for real, then lets the user's stop land before the pod moves to Scheduled. */
    class StopDuringReserve extends NodeReservations {
      override async tryReserve(nodeId: string, podId: string, want: Resources): Promise<{ reserved: boolean; allocated: Resources }> {
        const outcome = await super.tryReserve(nodeId, podId, want);
        await target.pods!.transition(podId, 'Stopped', { message: 'stopped by the user before it was scheduled' });
        return outcome;
      }
    }
    const s = scope((prefix) => new StopDuringReserve(redis, prefix));
    target.pods = s.pods;
    await s.sessions.register(node('n-a', { cpu: 4, memoryMiB: 4096, gpu: 0 }), '');
    const def = await newPod(s);
    await s.handler.run({ podId: def.id, requestId: 'req-stop-race' }, META);
    assert.equal((await s.pods.get(def.id))?.phase, 'Stopped');
    assert.deepEqual(await s.reservations.list('n-a'), []);
    assert.deepEqual((await s.nodes.get('n-a'))?.allocated, { cpu: 0, memoryMiB: 0, gpu: 0 });
    assert.deepEqual(await nodeJobs(s, 'n-a'), []);
  });
});
