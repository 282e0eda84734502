import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { OwnRedis } from '@warmpod/devkit';
import { ServiceHttpProvider } from '@warmpod/observability';
import { schedulerConfig } from './config';
import { SchedulerModule } from './scheduler.module';

let redis: OwnRedis;
let app: INestApplicationContext;
let url: string;

before(async () => {
  // A Redis of this test's own: the test stops and restarts it.
  redis = await OwnRedis.start();
  const config = schedulerConfig({
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
});

interface Readiness {
  status: number;
  checks: Record<string, boolean>;
}

/** Polls /readyz until `wanted` holds (deadline 15 s); the last answer. */
async function readyzUntil(wanted: (r: Readiness) => boolean): Promise<Readiness> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { checks: Record<string, boolean> };
    const r = { status: res.status, checks: body.checks };
    if (wanted(r)) return r;
    if (Date.now() > deadline) assert.fail(`/readyz stayed ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('scheduler: /readyz goes 503 while its Redis is stopped, naming it, and comes back with it; /healthz stays 200', async () => {
  const up = await readyzUntil((r) => r.status === 200);
  assert.deepEqual(up.checks, { redis: true, registry: true, jobs: true }, 'the gRPC registry answers a real handshake');

  await redis.stop();
  try {
    const down = await readyzUntil((r) => r.status === 503);
    assert.equal(down.checks['redis'], false);
    assert.equal(down.checks['registry'], true, 'the gRPC server does not depend on Redis to answer');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    await redis.resume();
  }
  const back = await readyzUntil((r) => r.status === 200);
  assert.deepEqual(back.checks, { redis: true, registry: true, jobs: true });
});
