import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodRecord } from '@warmpod/domain';
import { keysUnder } from '@warmpod/devkit';
import { PodRepository } from '@warmpod/store';
import { call, errorOf, Traces, uniquePrefix, type TestGateway } from '../testing/harness';
import { RegistryGateway } from '../testing/registry-gateway';
import type { TestRegistry } from '../testing/registry';
import { PodChanges } from './pod-changes';

/** A gateway with WARMPOD_METRICS=off and WARMPOD_EVENTS=off: the API works the same, unwatched. */
const prefix = uniquePrefix('quiet');
const world = new RegistryGateway();
let registry: TestRegistry;
let gateway: TestGateway;
let traces: Traces;

before(async () => {
  ({ registry, gateway, traces } = await world.start('quiet', prefix, { WARMPOD_METRICS: 'off', WARMPOD_EVENTS: 'off' }));
  await registry.push('team/app', 'latest', 'a');
});

after(() => world.stop());

describe('a gateway with metrics and events off', () => {
  test('/metrics answers 404 saying metrics are off; the probes still answer', async () => {
    const res = await call(gateway.url, 'GET', '/metrics', { token: null });
    assert.equal(res.status, 404);
    assert.match(errorOf(res).message, /WARMPOD_METRICS=off/);
    assert.equal((await call(gateway.url, 'GET', '/healthz', { token: null })).status, 200);
  });

  test('a pod is admitted and waited for (re-read on a timer, no events) and no event stream is written', async () => {
    assert.equal(gateway.app.get(PodChanges).live, false);
    const admitted = await call(gateway.url, 'POST', '/v1/pods', { body: { image: 'team/app' } });
    assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
    const id = (admitted.body as PodRecord).id;
    // The scheduler's and the agent's writes, as a deployment with events off makes them.
    const pods = new PodRepository(traces.redis, prefix, { events: false });
    const waiting = call(gateway.url, 'GET', `/v1/pods/${id}?wait=Ready&timeoutSeconds=20`);
    for (const phase of ['Scheduled', 'Starting', 'Running'] as const) assert.equal((await pods.transition(id, phase)).applied, true);
    const res = await waiting;
    assert.equal(res.headers.get('warmpod-wait'), 'ready');
    assert.equal((res.body as PodRecord).phase, 'Running');
    assert.deepEqual(
      (await keysUnder(traces.redis, prefix)).filter((key) => key.startsWith(`${prefix}events:`)),
      [],
      'no event stream under the prefix',
    );
  });
});
