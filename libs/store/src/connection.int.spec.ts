import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@warmpod/devkit';
import { connectRedis, waitForRedis } from './connection';

/** A Redis of this test's own (another port), so its eviction policy can be set freely. */
describe('a Redis that may evict keys is refused at boot', () => {
  let server: ChildProcess;
  let dir: string;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wp-evict-'));
    port = await freePort();
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir];
    server = spawn('redis-server', [...args, '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' });
  });

  after(async () => {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  });

  test('allkeys-lru: refused with the policy and what to set; noeviction: accepted', async () => {
    const redis = connectRedis(`redis://127.0.0.1:${port}`, 'eviction-test');
    try {
      await assert.rejects(waitForRedis(redis, 10_000), /maxmemory-policy is "allkeys-lru".*set maxmemory-policy noeviction/);
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await waitForRedis(redis, 10_000);
    } finally {
      redis.disconnect();
    }
  });
});
