import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { checkpointSpecKey, newId, normaliseSpec, type PodRequest, type Resources } from '@warmpod/domain';
import { bullPrefix, JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger } from '@warmpod/observability';
import { ImageRepository, NodeReservations, NodeSessions, PodRepository, PrepullHints, type PodDefinition } from '@warmpod/store';
import { dropKeys, redisOptions } from '@warmpod/devkit';
import { Backlog } from './backlog';
import { PlacementView } from './placement-view';
import { checkpointPolicy, SchedulePodHandler } from './schedule-pod.handler';

const filePrefix = `t-${randomUUID().slice(0, 8)}:`;
const DIGEST = `sha256:${'1'.repeat(64)}`;
const NEW_DIGEST = `sha256:${'3'.repeat(64)}`;
const logger = createLogger({ service: 'checkpoint-placement-int', level: 'silent' });
const SMALL: Resources = { cpu: 0.5, memoryMiB: 256, gpu: 0 };
const CHECKPOINT = { enabled: true, condition: { type: 'tcp' as const, port: 8080 }, timeoutSeconds: 60 };

let redis: Redis;
let counter = 0;
const closers: Array<() => Promise<unknown>> = [];

async function scope() {
  const prefix = `${filePrefix}${++counter}:`;
  const pods = new PodRepository(redis, prefix);
  const sessions = new NodeSessions(redis, prefix);
  const reservations = new NodeReservations(redis, prefix);
  const bus = new JobBus(redis, prefix);
  const queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
  const view = new PlacementView(redis, reservations, prefix, 60_000, logger);
  closers.push(
    () => bus.close(),
    () => queue.close(),
    () => view.stop(),
  );
  const handler = new SchedulePodHandler(
    {
      pods,
      reservations,
      bus,
      backlog: new Backlog(redis, queue, prefix, logger),
      hints: new PrepullHints(redis, prefix),
      view,
      images: new ImageRepository(redis, prefix),
    },
    logger,
    checkpointPolicy(['no-checkpoints']),
  );
  /** A node as its agent reports it: `criu` says whether `criu check` passed; `checkpointKeys` are its available checkpoints. */
  const addNode = async (id: string, opts: { criu: boolean; gpu?: number; digests?: string[]; checkpointKeys?: string[] }) => {
    await sessions.register(
      {
        id,
        labels: {},
        capacity: { cpu: 4, memoryMiB: 4096, gpu: opts.gpu ?? 0 },
        agentUrl: 'http://127.0.0.1:1',
        capabilities: { runtime: 'runc', criuOk: opts.criu, criuReason: opts.criu ? '' : 'vdso layout unsupported' },
      },
      `s-${id}`,
    );
    const applied = await sessions.applyInventory(id, `s-${id}`, {
      images: (opts.digests ?? []).map((digest) => ({ digest, sizeBytes: 50_000_000, layers: [] })),
      runningPods: [],
      checkpoints: (opts.checkpointKeys ?? []).map((key, i) => ({ id: `ckpt-${id}-${i}`, key, state: 'available', sizeBytes: 1_000_000 })),
    });
    assert.equal(applied, 'applied');
  };
  const place = async (request: Omit<PodRequest, 'image'>, digest = DIGEST, tenant = 'acme') => {
    const def: PodDefinition = {
      id: newId('pod'),
      tenant,
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'team/app:latest', pinned: `registry.local:5000/team/app@${digest}`, digest },
      spec: normaliseSpec({ image: 'team/app:latest', resources: SMALL, ...request }),
    };
    assert.equal((await pods.create(def)).kind, 'created');
    await view.resync();
    await handler.run({ podId: def.id, requestId: 'req' }, { jobId: `schedule-pod-${def.id}` });
    const pod = await pods.get(def.id);
    assert.ok(pod);
    return { pod, specKey: specKeyOf(request, digest) };
  };
  return { addNode, place };
}

function specKeyOf(request: Omit<PodRequest, 'image'>, digest = DIGEST): string {
  return checkpointSpecKey({ tenant: 'acme', digest, spec: normaliseSpec({ image: 'team/app:latest', resources: SMALL, ...request }) });
}

before(() => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
});

after(async () => {
  for (const close of closers) await close();
  await dropKeys(redis, filePrefix);
  await redis.quit();
});

describe('checkpoint placement and effective enablement', () => {
  test('a pod asking for checkpoints goes to a CRIU node, even over a node holding its digest', async () => {
    const s = await scope();
    await s.addNode('host-cached', { criu: false, digests: [DIGEST] });
    await s.addNode('criu-cold', { criu: true });
    const { pod } = await s.place({ checkpoint: CHECKPOINT });
    assert.equal(pod.node, 'criu-cold');
    assert.deepEqual(pod.checkpointing, { enabled: true });
  });

  test('a CRIU node holding a compatible checkpoint wins over one holding only the digest', async () => {
    const s = await scope();
    const probe = { specKey: specKeyOf({ checkpoint: CHECKPOINT }) };
    await s.addNode('criu-digest', { criu: true, digests: [DIGEST] });
    await s.addNode('criu-checkpoint', { criu: true, checkpointKeys: [probe.specKey] });
    const { pod, specKey } = await s.place({ checkpoint: CHECKPOINT });
    assert.equal(specKey, probe.specKey, 'the same spec gives the same key');
    assert.equal(pod.node, 'criu-checkpoint');
    assert.match(pod.placement?.why ?? '', /compatible checkpoint/);
  });

  test('a new digest is a new key: the old checkpoint does not attract the pod', async () => {
    const s = await scope();
    const old = { specKey: specKeyOf({ checkpoint: CHECKPOINT }) };
    await s.addNode('criu-old-checkpoint', { criu: true, checkpointKeys: [old.specKey] });
    await s.addNode('criu-new-digest', { criu: true, digests: [NEW_DIGEST] });
    const { pod, specKey } = await s.place({ checkpoint: CHECKPOINT }, NEW_DIGEST);
    assert.notEqual(specKey, old.specKey);
    assert.equal(pod.node, 'criu-new-digest');
  });

  test('a checkpoint reported by a node without working CRIU is never planned as a restore', async () => {
    const s = await scope();
    const probe = { specKey: specKeyOf({ checkpoint: CHECKPOINT }) };
    await s.addNode('host-with-stale-report', { criu: false, checkpointKeys: [probe.specKey] });
    await s.addNode('criu-plain', { criu: true });
    const { pod } = await s.place({ checkpoint: CHECKPOINT });
    assert.equal(pod.node, 'criu-plain');
  });

  test('two GPUs: off with the count in the reason, and placed like any pod', async () => {
    const s = await scope();
    await s.addNode('gpu-host', { criu: false, gpu: 2 });
    await s.addNode('criu-gpu', { criu: true, gpu: 2 });
    const { pod } = await s.place({ checkpoint: CHECKPOINT, resources: { cpu: 0.5, memoryMiB: 256, gpu: 2 } });
    assert.deepEqual(pod.checkpointing, {
      enabled: false,
      code: 'multi-gpu',
      reason: 'the pod asks for 2 GPUs; checkpointing supports at most 1',
    });
    assert.equal(pod.phase, 'Scheduled');
  });

  test('no CRIU node fits: off with that reason, placed on a host node', async () => {
    const s = await scope();
    await s.addNode('host-only', { criu: false });
    const { pod } = await s.place({ checkpoint: CHECKPOINT });
    assert.equal(pod.node, 'host-only');
    assert.deepEqual(pod.checkpointing, { enabled: false, code: 'no-criu-node', reason: 'no node that fits the pod has a working CRIU' });
  });

  test('a tenant the operator turned off: off by policy with the reason, placed like any pod', async () => {
    const s = await scope();
    await s.addNode('criu-policy', { criu: true });
    const { pod } = await s.place({ checkpoint: CHECKPOINT }, DIGEST, 'no-checkpoints');
    assert.equal(pod.phase, 'Scheduled');
    assert.deepEqual(pod.checkpointing, {
      enabled: false,
      code: 'policy',
      reason: 'checkpointing is off by policy: the operator turned it off for tenant no-checkpoints',
    });
  });

  test('not asked for: off as not requested', async () => {
    const s = await scope();
    await s.addNode('criu-any', { criu: true });
    const { pod } = await s.place({});
    assert.equal(pod.checkpointing?.enabled, false);
    assert.equal(pod.checkpointing?.enabled === false && pod.checkpointing.code, 'not-requested');
  });
});
