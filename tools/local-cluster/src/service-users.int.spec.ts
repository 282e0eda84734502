import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { dropKeys, redisUrl } from '@warmpod/devkit';
import { bullPrefix, JobBus, nodeQueueName, SCHEDULING_QUEUE } from '@warmpod/jobs';
import { newId, normaliseSpec } from '@warmpod/domain';
import { baseConfig, baseConfigSchema, loadConfig } from '@warmpod/observability';
import {
  assertNoEviction,
  connectRedis,
  Keys,
  NodeRepository,
  NodeReservations,
  NodeSessions,
  PinRepository,
  PodRepository,
  PullRepository,
  RateBuckets,
  type PodDefinition,
  type WarmpodService,
} from '@warmpod/store';
import { setUpServiceUsers, type LocalServiceUsers } from './service-users';

const REDIS_URL = redisUrl();
const prefix = `t-${randomUUID().slice(0, 8)}:`;
const keys = new Keys(prefix);
const DIGEST = `sha256:${'d'.repeat(64)}`;
const NOPERM = /NOPERM/;

let dir: string;
let users: LocalServiceUsers;
const opened: Redis[] = [];

/** A connection as the service would open it: its environment through its validated config. */
function as(service: WarmpodService): Redis {
  const env = { WARMPOD_REDIS_URL: REDIS_URL, WARMPOD_PREFIX: prefix, ...users.envOf(service) };
  const redis = connectRedis(baseConfig(loadConfig(baseConfigSchema, env, service)).redisUrl, `${prefix}${service}`);
  opened.push(redis);
  return redis;
}

const registration = (id: string) => ({
  id,
  labels: {},
  capacity: { cpu: 1, memoryMiB: 512, gpu: 0 },
  agentUrl: 'http://127.0.0.1:7100',
  capabilities: { runtime: 'runc', criu: false, arch: 'x64' },
});

describe("each service's own Redis user (real Redis ACL)", () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warmpod-redis-users-'));
    users = await setUpServiceUsers(REDIS_URL, prefix, join(dir, 'users'));
  });
  after(async () => {
    for (const r of opened) r.disconnect();
    await users?.remove();
    const admin = connectRedis(REDIS_URL, `${prefix}admin`);
    await dropKeys(admin, prefix);
    await dropKeys(admin, bullPrefix(prefix));
    admin.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  test('passwords sit in files only their owner reads; each service authenticates as itself', async () => {
    for (const service of ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const) {
      const file = users.envOf(service)['WARMPOD_REDIS_PASSWORD_FILE']!;
      assert.equal((await stat(file)).mode & 0o077, 0, `${service}'s password file is private`);
      await as(service).ping();
    }
    // Redis says who each connection is (the services may not ask: ACL is not theirs).
    const admin = connectRedis(REDIS_URL, `${prefix}admin`);
    const list = String(await admin.client('LIST')).split('\n');
    admin.disconnect();
    for (const service of ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const) {
      const line = list.find((l) => l.includes(` name=${prefix}${service} `));
      assert.match(line ?? '', new RegExp(` user=${users.envOf(service)['WARMPOD_REDIS_USERNAME']} `), service);
    }
  });

  test("each service still checks the Redis won't evict keys: from INFO, as CONFIG is not theirs", async () => {
    for (const service of ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const) {
      assert.equal(await assertNoEviction(as(service)), 'noeviction', service);
    }
  });

  test('the agent registers its node, the scheduler and gateway read it, the gateway pins', async () => {
    await new NodeSessions(as('worker-agent'), prefix).register(registration('n1'), 's1');
    assert.equal((await new NodeRepository(as('scheduler'), prefix).get('n1'))?.id, 'n1');
    const pins = new PinRepository(as('gateway'), prefix);
    await pins.create({
      id: 'pin-1',
      tenant: 't1',
      requested: 'app:latest',
      reference: 'registry.local/app:latest',
      pinned: `registry.local/app@${DIGEST}`,
      digest: DIGEST,
      nodeSelector: {},
      createdAt: new Date().toISOString(),
    });
    assert.equal((await pins.get('pin-1'))?.digest, DIGEST);
  });

  test('the prepuller reads records and writes its own state, but no pod or node record', async () => {
    const prepuller = as('prepuller');
    assert.equal((await new NodeRepository(prepuller, prefix).get('n1'))?.id, 'n1');
    const pulls = new PullRepository(prepuller, prefix);
    assert.equal(await pulls.claim('n1', DIGEST, `registry.local/app@${DIGEST}`, { cluster: 4, perNode: 2 }), 'claimed');
    await pulls.finish('n1', DIGEST, { state: 'ready' });
    const pins = new PinRepository(prepuller, prefix);
    assert.equal(await pins.remove({ id: 'pin-1', tenant: 't1', reference: 'registry.local/app:latest' }), true);

    await assert.rejects(prepuller.hset(keys.podStatus('p1'), 'phase', 'Running'), NOPERM);
    await assert.rejects(prepuller.hset(keys.node('n1'), 'cordoned', '1'), NOPERM);
    await assert.rejects(new NodeSessions(prepuller, prefix).register(registration('n2'), 's2'), NOPERM);
    assert.equal(await as('scheduler').exists(keys.node('n2')), 0, 'nothing written');
  });

  test("BullMQ: the prepuller queues a pull on a node's queue and the agent's worker runs it; the scheduling queue is not the prepuller's", async () => {
    const bus = new JobBus(as('prepuller'), prefix);
    await bus.pullToNode('n1', { digest: DIGEST, requestId: 'req-1', pinned: `registry.local/app@${DIGEST}` });
    let resolveDone!: (name: string) => void;
    const done = new Promise<string>((r) => (resolveDone = r));
    const worker = new Worker(nodeQueueName('n1'), async (job) => resolveDone(job.name), {
      connection: as('worker-agent'),
      prefix: bullPrefix(prefix),
    });
    try {
      assert.equal(await done, 'pull-image');
    } finally {
      await worker.close();
      await bus.close();
    }
    const scheduling = new Queue(SCHEDULING_QUEUE, { connection: as('prepuller'), prefix: bullPrefix(prefix), skipVersionCheck: true });
    try {
      await assert.rejects(scheduling.add('schedule-pod', { podId: 'p1', requestId: 'r' }), NOPERM);
    } finally {
      await scheduling.close();
    }
  });

  test("a pod's life across the three users that write it passes; each one's representative forbidden write is refused", async () => {
    const gateway = as('gateway');
    const scheduler = as('scheduler');
    const agent = as('worker-agent');
    const pod: PodDefinition = {
      id: newId('pod', Date.now()),
      tenant: 't1',
      createdAt: new Date().toISOString(),
      labels: {},
      image: { requested: 'app:latest', pinned: `registry.local/app@${DIGEST}`, digest: DIGEST },
      spec: normaliseSpec({ image: 'app:latest', resources: { cpu: 0.1, memoryMiB: 16, gpu: 0 } }),
    };
    // Gateway: admission (pod, tenant index, quota charge, idempotency, events), a rate bucket, cordon, the scheduling queue.
    assert.equal((await new PodRepository(gateway, prefix).create(pod, { key: 'k1', bodyHash: 'h' })).kind, 'created');
    assert.equal((await new RateBuckets(gateway, prefix).take('token-1', 10, 10)).allowed, true);
    const gatewayNodes = new NodeRepository(gateway, prefix);
    assert.equal(await gatewayNodes.setCordoned('n1', true), true);
    assert.equal(await gatewayNodes.setCordoned('n1', false), true);
    const gatewayBus = new JobBus(gateway, prefix);
    await gatewayBus.toScheduler({ name: 'schedule-pod', data: { podId: pod.id, requestId: 'r1' } });
    await gatewayBus.close();
    // Scheduler: a reservation on the node, the placement, the node's queue.
    assert.equal(
      (await new NodeReservations(scheduler, prefix).tryReserve('n1', pod.id, { cpu: 0.1, memoryMiB: 16, gpu: 0 })).reserved,
      true,
    );
    assert.equal((await new PodRepository(scheduler, prefix).transition(pod.id, 'Scheduled', { node: 'n1' })).applied, true);
    const schedulerBus = new JobBus(scheduler, prefix);
    await schedulerBus.toNode('n1', { name: 'start-pod', data: { podId: pod.id, requestId: 'r1' } });
    await schedulerBus.close();
    // Agent: its phases, the end that releases the reservation, an image added to its node's inventory.
    const agentPods = new PodRepository(agent, prefix);
    assert.equal((await agentPods.transition(pod.id, 'Starting')).applied, true);
    assert.equal((await agentPods.transition(pod.id, 'Running', { startMode: 'cold' })).applied, true);
    assert.equal((await agentPods.transition(pod.id, 'Stopped', { message: 'done' }, 'n1')).applied, true);
    assert.deepEqual(await new NodeReservations(scheduler, prefix).list('n1'), [], 'the agent released the reservation');
    await new NodeRepository(agent, prefix).addCachedDigest('n1', DIGEST, 1_000);

    // What each may not write (reading is still allowed: the records are shared).
    const refused: Array<[WarmpodService, Redis, () => Promise<unknown>]> = [
      ['gateway', gateway, () => gateway.hset(keys.pull('n1', DIGEST), 'state', 'ready')], // a node's pull progress
      ['gateway', gateway, () => gateway.sadd(keys.protectedDigests('n1'), DIGEST)], // what a node's GC keeps
      ['gateway', gateway, () => gateway.zadd(keys.prepullHints(), 1, 'x')],
      ['scheduler', scheduler, () => scheduler.hset(keys.rateBucket('token-1'), 'tokens', '1000')],
      ['scheduler', scheduler, () => scheduler.hset(keys.pull('n1', DIGEST), 'state', 'ready')],
      ['worker-agent', agent, () => agent.hset(keys.pin('pin-1'), 'state', 'superseded')], // a tenant's pin
      ['worker-agent', agent, () => agent.sadd(keys.pools(), 'pool-x')],
      ['worker-agent', agent, () => agent.hset(keys.rateBucket('token-1'), 'tokens', '1000')],
      ['worker-agent', agent, () => agent.zadd(keys.prepullHints(), 1, 'x')],
    ];
    for (const [service, redis, write] of refused) {
      await assert.rejects(write(), NOPERM, service);
      assert.equal(await redis.exists(keys.rateBucket('token-1')), 1, `${service} still reads what it may not write`);
    }
    assert.equal(await as('scheduler').zcard(keys.prepullHints()), 0, 'no refused write landed');
    // Only the change feed's readers subscribe; the others publish (from their scripts) only.
    await assert.rejects(as('gateway').subscribe(keys.pinsChanged()), NOPERM);
    await assert.rejects(as('worker-agent').subscribe(keys.nodesChanged()), NOPERM);
  });

  test("pub/sub on the deployment's channels only", async () => {
    const subscriber = as('scheduler');
    const heard = new Promise<string>((resolve) => subscriber.on('message', (_channel: string, message: string) => resolve(message)));
    await subscriber.subscribe(keys.pinsChanged());
    await as('gateway').publish(keys.pinsChanged(), 'pin-9');
    assert.equal(await heard, 'pin-9');
    await assert.rejects(as('scheduler').subscribe('another-deployment:pins:changed'), NOPERM);
  });

  test("no service reaches another deployment's keys or runs administrative commands", async () => {
    for (const service of ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const) {
      const redis = as(service);
      await assert.rejects(redis.set('another-deployment:x', '1'), NOPERM, service);
      await assert.rejects(redis.get('another-deployment:x'), NOPERM, service);
      await assert.rejects(redis.flushall(), NOPERM, service);
      await assert.rejects(redis.keys(`${prefix}*`), NOPERM, service);
      await assert.rejects(redis.config('GET', 'requirepass'), NOPERM, service);
      await assert.rejects(redis.call('ACL', 'LIST'), NOPERM, service);
    }
  });
});
