import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { ClusterPki, readinessUntil, RedisServer } from '@warmpod/devkit';
import { ServiceHttpProvider } from '@warmpod/observability';
import { schedulerConfig } from './config';
import { SchedulerModule } from './scheduler.module';

let redis: RedisServer;
let app: INestApplicationContext;
let url: string;
let pkiDir: string;

before(async () => {
  // A Redis of this test's own: the test stops and restarts it.
  redis = await RedisServer.start();
  // The registry serves mTLS only: a cluster CA and the scheduler's certificate of the test's own.
  pkiDir = await mkdtemp(join(tmpdir(), 'wp-sched-ready-'));
  const cert = await (await ClusterPki.open(pkiDir)).issue('service:scheduler');
  const config = schedulerConfig({
    ...ClusterPki.env(cert),
    WARMPOD_REDIS_URL: redis.url,
    WARMPOD_PREFIX: `wptest-readiness-${process.pid}:`,
    SCHEDULER_GRPC_PORT: '0',
    SCHEDULER_HTTP_PORT: '0',
    LOG_LEVEL: 'fatal',
  });
  app = await NestFactory.createApplicationContext(SchedulerModule.forConfig(config), { logger: false });
  url = app.get(ServiceHttpProvider).url ?? assert.fail('the service HTTP listener is not bound');
});

after(async () => {
  await app?.close();
  await redis?.close();
  if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
});

test('scheduler: /readyz goes 503 while its Redis is stopped, naming it, and comes back with it; /healthz stays 200', async () => {
  const up = await readinessUntil(url, (r) => r.status === 200);
  assert.deepEqual(up.checks, { redis: true, registry: true, jobs: true }, 'the gRPC registry answers a real handshake');

  await redis.stop();
  try {
    const down = await readinessUntil(url, (r) => r.status === 503);
    assert.equal(down.checks['redis'], false);
    assert.equal(down.checks['registry'], true, 'the gRPC server does not depend on Redis to answer');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    await redis.resume();
  }
  const back = await readinessUntil(url, (r) => r.status === 200);
  assert.deepEqual(back.checks, { redis: true, registry: true, jobs: true });
});
