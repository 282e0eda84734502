import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId, type PodRecord } from '@warmpod/domain';
import { PodRepository, poolPodDefinition, PoolRepository } from '@warmpod/store';
import { call, errorOf, TOKENS, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { RegistryGateway } from '../testing/registry-gateway';
import type { TestRegistry } from '../testing/registry';
import type { PoolResponse } from './pool-response';

const prefix = uniquePrefix('pools');
const world = new RegistryGateway();
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;
let pools: PoolRepository;
let pods: PodRepository;
let digestA: string;

const template = { command: ['sleep', '3600'], env: { MODE: 'warm' }, ports: [8080], resources: { cpu: 0.1, memoryMiB: 64 } };
const poolOf = (res: { body: unknown }) => res.body as PoolResponse;
const podOf = (res: { body: unknown }) => res.body as PodRecord;

before(async () => {
  ({ registry, gateway, traces } = await world.start('pools', prefix));
  digestA = await registry.push('team/pool', 'latest', 'a');
  pools = new PoolRepository(traces.redis, prefix);
  pods = new PodRepository(traces.redis, prefix);
});

after(() => world.stop());

/** A warm pod as the scheduler's controller and an agent would leave it: a member, Running. */
async function warmPod(name: string): Promise<string> {
  const pool = (await pools.findByName('alpha', name))!;
  const podId = newId('pod');
  assert.equal(await pools.admit(pool.id, podId, pool.image.digest, 30_000), 'admitted');
  await pods.create(poolPodDefinition(pool, podId));
  for (const phase of ['Scheduled', 'Starting', 'Running'] as const)
    await pods.transition(podId, phase, phase === 'Scheduled' ? { node: 'n1' } : {});
  return podId;
}

describe('POST /v1/pools', () => {
  test('creates a pool with its image pinned at the door', async () => {
    const res = await call(gateway.url, 'POST', '/v1/pools', {
      body: { name: 'web', image: 'team/pool:latest', size: 2, podTemplate: template },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const pool = poolOf(res);
    assert.deepEqual(pool.image, { requested: 'team/pool:latest', pinned: `${registry.host}/team/pool@${digestA}`, digest: digestA });
    assert.equal(pool.desired, 2);
    assert.equal(pool.ready, 0);
    assert.deepEqual(pool.pods, []);
    assert.deepEqual(pool.podTemplate, {
      command: ['sleep', '3600'],
      args: [],
      env: { MODE: 'warm' },
      ports: [8080],
      resources: { cpu: 0.1, memoryMiB: 64, gpu: 0 },
    });
  });

  test('refuses bad bodies with the field paths, and stores nothing', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{ name: 'Bad_Name', image: 'team/pool', size: 1, podTemplate: {} }, ['name']],
      [{ name: 'ok', image: 'team/pool', size: -1, podTemplate: {} }, ['size']],
      [{ name: 'ok', image: 'team/pool', size: 1.5, podTemplate: {} }, ['size']],
      [{ name: 'ok', image: 'team/pool', size: 1 }, ['podTemplate']],
      [{ name: 'ok', image: 'team/pool', size: 1, podTemplate: { checkpoint: { enabled: true } } }, ['podTemplate.checkpoint']],
      [
        { name: 'ok', image: 'team/pool', size: 1, podTemplate: { resources: { cpu: 0 } } },
        ['podTemplate.resources.cpu', 'podTemplate.resources.memoryMiB'],
      ],
      [{ name: 'ok', image: 'team/pool', size: 1, podTemplate: {}, extra: true }, ['extra']],
      [
        { name: 'ok', image: 'team/pool', size: 1, podTemplate: { ports: [80], readiness: { condition: { type: 'tcp', port: 81 } } } },
        ['podTemplate.readiness.condition.port'],
      ],
      [
        { name: 'ok', image: 'team/pool', size: 1, podTemplate: { readiness: { condition: { type: 'exec', command: [] } } } },
        ['podTemplate.readiness.condition.command'],
      ],
      [
        {
          name: 'ok',
          image: 'team/pool',
          size: 1,
          podTemplate: {
            readiness: { condition: { type: 'file', path: '/ready' }, intervalMs: 500, successThreshold: 5, timeoutSeconds: 1 },
          },
        },
        ['podTemplate.readiness.successThreshold'],
      ],
    ];
    for (const [body, paths] of cases) {
      const res = await call(gateway.url, 'POST', '/v1/pools', { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(errorOf(res).code, 'invalid_request');
      assert.deepEqual(
        errorOf(res)
          .details.map((d) => d.path)
          .sort(),
        paths,
        JSON.stringify(errorOf(res)),
      );
    }
    const missing = await call(gateway.url, 'POST', '/v1/pools', {
      body: { name: 'ghost', image: 'team/nothing:latest', size: 1, podTemplate: {} },
    });
    assert.equal(missing.status, 422);
    const list = await call(gateway.url, 'GET', '/v1/pools');
    assert.deepEqual(
      (list.body as { items: PoolResponse[] }).items.map((p) => p.name),
      ['web'],
    );
  });

  test('a name is unique in a tenant (409), and free in another', async () => {
    const again = await call(gateway.url, 'POST', '/v1/pools', {
      body: { name: 'web', image: 'team/pool:latest', size: 1, podTemplate: {} },
    });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again).code, 'pool_exists');
    assert.equal(errorOf(again).details[0]?.path, 'name');
    const beta = await call(gateway.url, 'POST', '/v1/pools', {
      token: TOKENS.beta,
      body: { name: 'web', image: 'team/pool:latest', size: 1, podTemplate: {} },
    });
    assert.equal(beta.status, 201);
    assert.notEqual(poolOf(beta).id, poolOf((await call(gateway.url, 'GET', '/v1/pools/web')) as { body: unknown }).id);
  });
});

describe('claims through POST /v1/pods', () => {
  test('with a warm pod free: it comes back Running at once, as warm-pool', async () => {
    const warm = await warmPod('web');
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool:latest', pool: 'web' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const pod = podOf(res);
    assert.equal(pod.id, warm);
    assert.equal(pod.phase, 'Running');
    assert.equal(pod.startMode, 'warm-pool');
    assert.equal(pod.pool, 'web');
    assert.equal(pod.image.digest, digestA);
    const shown = poolOf(await call(gateway.url, 'GET', '/v1/pools/web'));
    assert.equal(shown.pods.length, 0, 'the claimed pod left the pool');
    assert.equal(shown.stats.claimed[digestA], 1);
  });

  test('with none free: the pool template starts the normal way at the pool digest', async () => {
    const before = await traces.snapshot();
    const res = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'web' } });
    assert.equal(res.status, 202);
    const pod = podOf(res);
    assert.equal(pod.phase, 'Pending');
    assert.equal(pod.pool, 'web');
    assert.equal(pod.image.digest, digestA);
    assert.deepEqual(pod.spec.command, ['sleep', '3600']);
    assert.deepEqual(pod.labels, { 'warmpod.io/pool': 'web' });
    assert.ok(await traces.scheduling.getJob(`schedule-pod-${pod.id}`), 'a schedule-pod job is queued');
    assert.equal((await traces.scheduling.getJobCounts()).waiting, before.jobs['waiting']! + 1);
  });

  test('an idempotency key replays the claimed pod', async () => {
    await warmPod('web');
    const headers = { 'idempotency-key': 'claim-1' };
    const first = podOf(await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'web' }, headers }));
    const replay = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'web' }, headers });
    assert.equal(replay.headers.get('idempotent-replay'), 'true');
    assert.equal(podOf(replay).id, first.id);
  });

  test("refuses template fields, another image, an unknown pool, and another tenant's pool", async () => {
    const extra = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'web', env: { A: '1' }, ports: [80] } });
    assert.equal(extra.status, 400);
    assert.deepEqual(
      errorOf(extra).details.map((d) => d.path),
      ['env', 'ports'],
    );
    const other = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/other', pool: 'web' } });
    assert.equal(other.status, 400);
    assert.equal(errorOf(other).details[0]?.path, 'image');
    const unknown = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'nope' } });
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).details[0]?.path, 'pool');
    const bad = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/pool', pool: 'Not A Name' } });
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad).details[0]?.path, 'pool');
  });
});

describe('PATCH and DELETE /v1/pools/{name}', () => {
  test('resizes; re-pins to the digest the tag now names', async () => {
    const resized = await call(gateway.url, 'PATCH', '/v1/pools/web', { body: { size: 5 } });
    assert.equal(resized.status, 200, JSON.stringify(resized.body));
    assert.equal(poolOf(resized).size, 5);
    assert.equal(poolOf(resized).generation, 1);

    const digestB = await registry.push('team/pool', 'latest', 'b');
    const repinned = await call(gateway.url, 'PATCH', '/v1/pools/web', { body: { repin: true } });
    assert.equal(repinned.status, 200);
    assert.equal(poolOf(repinned).image.digest, digestB);
    assert.equal(poolOf(repinned).generation, 2);
    const same = await call(gateway.url, 'PATCH', '/v1/pools/web', { body: { repin: true } });
    assert.equal(poolOf(same).generation, 2, 'the same digest again is no rotation');

    for (const body of [{}, { size: 'x' }, { podTemplate: {} }, { repin: false }]) {
      const res = await call(gateway.url, 'PATCH', '/v1/pools/web', { body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal((await call(gateway.url, 'PATCH', '/v1/pools/nope', { body: { size: 1 } })).status, 404);
  });

  test('DELETE drains: the name is free at once, another tenant cannot touch it', async () => {
    assert.equal((await call(gateway.url, 'DELETE', '/v1/pools/web', { token: TOKENS.beta })).status, 202, "beta drains its own 'web'");
    const res = await call(gateway.url, 'DELETE', '/v1/pools/web');
    assert.equal(res.status, 202);
    assert.equal(poolOf(res).state, 'draining');
    assert.equal(poolOf(res).desired, 0);
    assert.equal((await call(gateway.url, 'GET', '/v1/pools/web')).status, 404);
    assert.equal((await call(gateway.url, 'DELETE', '/v1/pools/web')).status, 404);
    const reused = await call(gateway.url, 'POST', '/v1/pools', {
      body: { name: 'web', image: 'team/pool:latest', size: 1, podTemplate: {} },
    });
    assert.equal(reused.status, 201);
  });
});
