import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { NodeRegistryClient } from '@warmpod/node-registry';
import { ClusterTls, createLogger } from '@warmpod/observability';
import { NodeRepository } from '@warmpod/store';
import { ClusterPki, redisOptions } from '@warmpod/devkit';
import { startNodeRegistry } from './node-registry';

const prefix = `t-${randomUUID().slice(0, 8)}:`;
const logger = createLogger({ service: 'scheduler-registry-int', level: 'silent' });
let redis: Redis;
let dir: string;

before(async () => {
  redis = new Redis({ ...redisOptions(), maxRetriesPerRequest: null });
  dir = await mkdtemp(join(tmpdir(), 'warmpod-scheduler-registry-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

test('the scheduler serves the node registry over mTLS on the configured address; an agent registers and reports through it', async () => {
  const pki = await ClusterPki.open(dir);
  const options = { reloadMs: 60_000, logger };
  const serverTls = await ClusterTls.load(await pki.issue('service:scheduler'), options);
  const agentTls = await ClusterTls.load(await pki.issue('node:node-1'), options);
  const server = await startNodeRegistry({ prefix, grpcHost: '127.0.0.1', grpcPort: 0, heartbeatMs: 250 }, redis, logger, {
    tls: serverTls,
  });
  const client = new NodeRegistryClient({
    tls: agentTls,
    target: `grpc://127.0.0.1:${server.port}`,
    registration: {
      nodeId: 'node-1',
      labels: {},
      capacity: { cpu: 2, memoryMib: 2048, gpu: 0 },
      gpus: [],
      capabilities: {
        runtime: 'runc',
        runcVersion: '1.1',
        criuVersion: '',
        criuOk: false,
        criuReason: 'not installed',
        kernel: '6.1',
        arch: 'x64',
        cpuFlags: [],
      },
      agentUrl: 'http://127.0.0.1:1',
    },
    inventory: async () => ({ images: [], runningPods: [], checkpoints: [], usage: { cpu: 0, memoryMiB: 0, gpu: 0 } }),
    onStopPods: async () => undefined,
    logger,
  });
  try {
    assert.ok(server.port > 0);
    await client.start();
    const node = await new NodeRepository(redis, prefix).get('node-1');
    assert.equal(node?.sessionId, client.sessionId);
    assert.deepEqual(node?.capacity, { cpu: 2, memoryMiB: 2048, gpu: 0 });
    assert.deepEqual(server.connectedNodes, ['node-1']);
  } finally {
    await client.stop();
    await server.close();
    serverTls.close();
    agentTls.close();
  }
});
