import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { readinessUntil, RedisServer } from '@warmpod/devkit';
import { ServiceHttpProvider } from '@warmpod/observability';
import { prepullerConfig } from './config';
import { PrepullerModule } from './prepuller.module';

let redis: RedisServer;
let app: INestApplicationContext;
let url: string;

before(async () => {
  // A Redis of this test's own: the test stops and restarts it.
  redis = await RedisServer.start();
  const config = prepullerConfig({
    WARMPOD_REDIS_URL: redis.url,
    WARMPOD_PREFIX: `wptest-readiness-${process.pid}:`,
    PREPULLER_HTTP_PORT: '0',
    LOG_LEVEL: 'fatal',
  });
  app = await NestFactory.createApplicationContext(PrepullerModule.forConfig(config), { logger: false });
  url = app.get(ServiceHttpProvider).url ?? assert.fail('the service HTTP listener is not bound');
});

after(async () => {
  await app?.close();
  await redis?.close();
});

test('prepuller: /readyz goes 503 while its Redis is stopped, naming it, and comes back with it; /healthz stays 200', async () => {
  const up = await readinessUntil(url, (r) => r.status === 200);
  assert.deepEqual(up.checks, { redis: true, reconciling: true });

  await redis.stop();
  try {
    const down = await readinessUntil(url, (r) => r.status === 503);
    assert.deepEqual(down.checks, { redis: false, reconciling: true });
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    await redis.resume();
  }
  const back = await readinessUntil(url, (r) => r.status === 200);
  assert.deepEqual(back.checks, { redis: true, reconciling: true });
});
