import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prepullerConfig } from './config';

const PAUSE = `127.0.0.1:5000/pause@sha256:${'e'.repeat(64)}`;

describe('prepullerConfig', () => {
  test('defaults: budget 4, 2 per node, 10 pulls/s per registry, Kubernetes off', () => {
    const c = prepullerConfig({});
    assert.deepEqual(c.budget, { cluster: 4, perNode: 2 });
    assert.equal(c.registryRatePerSecond, 10);
    assert.equal(c.retryAfterMs, 60_000);
    assert.equal(c.resyncMs, 30_000);
    assert.equal(c.kubernetes, undefined);
  });

  test('lists every problem at once', () => {
    assert.throws(
      () => prepullerConfig({ PREPULL_CLUSTER_BUDGET: '0', PREPULL_REGISTRY_RATE: '-1', PREPULL_KUBERNETES: 'yes' }),
      (e: Error) =>
        /PREPULL_CLUSTER_BUDGET/.test(e.message) && /PREPULL_REGISTRY_RATE/.test(e.message) && /PREPULL_KUBERNETES/.test(e.message),
    );
  });

  test('per-node limit above the cluster budget is refused', () => {
    assert.throws(() => prepullerConfig({ PREPULL_CLUSTER_BUDGET: '2', PREPULL_PER_NODE: '3' }), /PREPULL_PER_NODE/);
  });

  test('the Kubernetes driver needs a pause image pinned by digest and a JSON no-op command', () => {
    assert.throws(() => prepullerConfig({ PREPULL_KUBERNETES: 'true' }), /PREPULL_K8S_PAUSE_IMAGE/);
    assert.throws(
      () => prepullerConfig({ PREPULL_KUBERNETES: 'true', PREPULL_K8S_PAUSE_IMAGE: 'registry.k8s.io/pause:3.10' }),
      /PREPULL_K8S_PAUSE_IMAGE/,
    );
    assert.throws(() => prepullerConfig({ PREPULL_K8S_NOOP_COMMAND: 'true' }), /PREPULL_K8S_NOOP_COMMAND/);
    const c = prepullerConfig({ PREPULL_KUBERNETES: 'true', PREPULL_K8S_PAUSE_IMAGE: PAUSE, PREPULL_K8S_NOOP_COMMAND: '["/bin/true"]' });
    assert.deepEqual(c.kubernetes, { namespace: 'warmpod-prepull', pauseImage: PAUSE, noopCommand: ['/bin/true'] });
  });
});
