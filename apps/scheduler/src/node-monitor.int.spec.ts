import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { newId, normaliseSpec, type RestartPolicy } from '@warmpod/domain';
import { bullPrefix, JobBus, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { createLogger } from '@warmpod/observability';
import { Keys, NodeLiveness, NodeRepository, NodeReservations, NodeSessions, PodRepository } from '@warmpod/store';
import { redisUrl } from '@warmpod/devkit';
import { NodeMonitor } from './node-monitor';

const prefix = `t-${randomUUID().slice(0, 8)}:`;
const DIGEST = `sha256:${'3'.repeat(64)}`;
const WINDOW = 5_000;
const logger = createLogger({ service: 'node-monitor-int', level: 'silent' });

describe('NodeMonitor on real Redis', () => {
  let redis: Redis;
  let pods: PodRepository;
  let nodes: NodeRepository;
  let sessions: NodeSessions;
  let reservations: NodeReservations;
  let bus: JobBus;
  let queue: Queue;

  before(async () => {
    redis = new Redis(redisUrl());
    pods = new PodRepository(redis, prefix);
    nodes = new NodeRepository(redis, prefix);
    sessions = new NodeSessions(redis, prefix);
    reservations = new NodeReservations(redis, prefix);
    bus = new JobBus(redis, prefix);
    queue = new Queue(SCHEDULING_QUEUE, { connection: redis, prefix: bullPrefix(prefix) });
  });

  after(async () => {
    await queue.close();
    await bus.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  const monitor = () => new NodeMonitor(nodes, reservations, new NodeLiveness(redis, prefix), pods, bus, WINDOW, logger);

  async function runningPod(node: string, restartPolicy: RestartPolicy): Promise<string> {
    const id = newId('pod');
    const spec = normaliseSpec({ image: 'x', restartPolicy, resources: { cpu: 1, memoryMiB: 256, gpu: 0 } });
    await pods.create({
      id,
      tenant: 't',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'x', pinned: `r.io/x@${DIGEST}`, digest: DIGEST },
      spec,
    });
    assert.ok((await reservations.tryReserve(node, id, spec.resources)).reserved);
    for (const phase of ['Scheduled', 'Starting', 'Running'] as const) {
      assert.ok((await pods.transition(id, phase, phase === 'Scheduled' ? { node } : {})).applied);
    }
    return id;
  }

  test('a silent node is declared lost once; its pods end Lost, restartable ones go back to Pending', async () => {
    await sessions.register(
      {
        id: 'silent',
        labels: {},
        capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 },
        agentUrl: 'http://127.0.0.1:1',
        capabilities: {},
      },
      '',
    );
    await sessions.register(
      {
        id: 'alive',
        labels: {},
        capacity: { cpu: 4, memoryMiB: 4096, gpu: 0 },
        agentUrl: 'http://127.0.0.1:1',
        capabilities: {},
      },
      '',
    );
    const keep = await runningPod('silent', 'Never');
    const restart = await runningPod('silent', 'OnFailure');
    const elsewhere = await runningPod('alive', 'Always');

    const later = Date.now() + WINDOW + 1_000;
    // Evaluate the sweep as if time had passed, with 'alive' having spoken just now.
    await redis.hset(new Keys(prefix).node('alive'), 'heartbeatAt', new Date(later).toISOString());
    const [first, second] = await Promise.all([monitor().sweep(later), monitor().sweep(later)]);
    assert.deepEqual(
      [...first, ...second].filter((n) => n === 'silent'),
      ['silent'],
      'exactly one replica declares the node lost',
    );

    const lost = (await pods.get(keep))!;
    assert.equal(lost.phase, 'Lost');
    assert.match(lost.error!, /silent stopped heartbeating/);

    const again = (await pods.get(restart))!;
    assert.equal(again.phase, 'Pending');
    assert.equal(again.restarts, 1);
    assert.equal(again.node, undefined);
    assert.ok(again.timeline.Lost, 'the timeline keeps the loss');
    assert.ok(await queue.getJob(`schedule-pod-${restart}-g1`), 'a new schedule-pod job for the next generation');

    assert.deepEqual(await reservations.list('silent'), []);
    assert.equal((await nodes.get('silent'))!.allocated.cpu, 0);
    assert.equal((await pods.get(elsewhere))!.phase, 'Running', 'pods on live nodes are untouched');
    assert.deepEqual(await monitor().sweep(later), [], 'a lost node is not lost twice');
  });
});
