import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExposition, sampleValue } from './exposition';
import { ServiceHttp } from './service-http';
import { ServiceMetrics, WAIT_SECONDS_BUCKETS } from './registry';

test('the exposition parser reads labels with escapes, +Inf and timestamps', () => {
  const samples = parseExposition(
    [
      '# HELP x_total an x',
      '# TYPE x_total counter',
      'x_total{a="1",b="say \\"hi\\"\\\\"} 3',
      'x_total{a="2"} 4 1700000000000',
      'h_bucket{le="+Inf"} 7',
      'plain 1.5e3',
      '',
    ].join('\n'),
  );
  assert.deepEqual(samples[0], { name: 'x_total', labels: { a: '1', b: 'say "hi"\\' }, value: 3 });
  assert.equal(sampleValue(samples, 'x_total'), 7);
  assert.equal(sampleValue(samples, 'x_total', { a: '2' }), 4);
  assert.equal(sampleValue(samples, 'h_bucket', { le: '+Inf' }), 7);
  assert.equal(sampleValue(samples, 'plain'), 1500);
  assert.throws(() => parseExposition('not a sample at all {'), /line 1/);
});

test('helpers keep the conventions and a service serves its metrics, health and readiness', async () => {
  const metrics = new ServiceMetrics('test-service');
  assert.throws(() => metrics.counter('things', 'no suffix'), /_total/);
  assert.throws(() => metrics.histogram('wait', 'no unit', [], WAIT_SECONDS_BUCKETS), /unit/);
  const things = metrics.counter('warmpod_things_total', 'things', ['kind']);
  things.inc({ kind: 'a' }, 2);
  metrics.gauge('warmpod_answer', 'collected on scrape', [], (g) => g.set(42));
  metrics.histogram('warmpod_wait_seconds', 'waits', ['mode'], WAIT_SECONDS_BUCKETS).observe({ mode: 'cold' }, 0.3);
  let ready = false;
  const http = new ServiceHttp(metrics, { redis: () => ready, slow: () => new Promise<boolean>(() => undefined) });
  const url = await http.listen('127.0.0.1', 0);
  try {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await res.text());
    assert.equal(sampleValue(samples, 'warmpod_things_total', { kind: 'a', service: 'test-service' }), 2);
    assert.equal(sampleValue(samples, 'warmpod_answer'), 42);
    assert.equal(sampleValue(samples, 'warmpod_wait_seconds_count', { mode: 'cold' }), 1);
    assert.equal(sampleValue(samples, 'warmpod_wait_seconds_bucket', { mode: 'cold', le: '0.5' }), 1);
    assert.ok(sampleValue(samples, 'process_cpu_user_seconds_total') > 0, 'default process metrics');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const notReady = await fetch(`${url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { ready: false, checks: { redis: false, slow: false } });
    ready = true;
    assert.equal((await fetch(`${url}/nope`)).status, 404);
  } finally {
    await http.close();
  }
});

test('metrics switched off: the same calls work, nothing is registered or sampled, and /metrics answers 404', async () => {
  const metrics = new ServiceMetrics('quiet-service', { enabled: false });
  assert.equal(metrics.enabled, false);
  metrics.counter('warmpod_things_total', 'things', ['kind']).inc({ kind: 'a' });
  metrics.histogram('warmpod_wait_seconds', 'waits', ['mode'], WAIT_SECONDS_BUCKETS).observe({ mode: 'cold' }, 0.3);
  let collected = false;
  metrics.gauge('warmpod_answer', 'collected on scrape', [], (g) => {
    collected = true;
    g.set(42);
  });
  assert.deepEqual(metrics.registry.getMetricsAsArray(), [], 'no metric, not even the default process ones');
  const http = new ServiceHttp(metrics, { redis: () => true });
  const url = await http.listen('127.0.0.1', 0);
  try {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /WARMPOD_METRICS=off/);
    assert.equal(collected, false, 'a gauge read on scrape is never read');
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'the probes stay');
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
  } finally {
    await http.close();
  }
});
