import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { ClusterPki, dropKeys } from '@warmpod/devkit';

const needsRoot = process.getuid?.() === 0 ? false : 'the agent manages netns, mounts and cgroups: root only';
const MAIN = join(__dirname, 'main.js');
const tag = randomBytes(3).toString('hex');
const prefix = `t-${tag}:`;
let dir: string;
let env: Record<string, string>;

/** A port nothing answers gRPC on: the agent's registration waits there forever. */
async function silentPort(): Promise<{ port: number; close: () => void }> {
  const server = createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() };
}

let silent: { port: number; close: () => void };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wp-agent-startup-'));
  silent = await silentPort();
  const pki = await ClusterPki.open(join(dir, 'pki'));
  env = {
    ...ClusterPki.env(await pki.issue('node:startup-test')),
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    NODE_ID: 'startup-test',
    NODE_DATA_DIR: join(dir, 'node'),
    NODE_BRIDGE: `wps-${tag}`,
    NODE_SUBNET: '10.251.7.0/24',
    NODE_CGROUP_PARENT: `warmpod-st-${tag}`,
    SCHEDULER_GRPC_URL: `grpc://127.0.0.1:${silent.port}`,
    WARMPOD_PREFIX: prefix,
    LOG_LEVEL: 'info',
  };
});
after(async () => {
  silent.close();
  const redis = new Redis('redis://127.0.0.1:6379');
  await dropKeys(redis, prefix).finally(() => redis.disconnect());
  await rm(dir, { recursive: true, force: true });
});

describe('agent start-up is abortable and leaves nothing behind', { skip: needsRoot }, () => {
  test('SIGTERM while it waits for the scheduler: start-up is cancelled, cleaned up, exit 0; a sweep finds the node clean', async () => {
    const agent = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    try {
      // Adoption done, registration under way (it never succeeds against the silent port).
      const deadline = Date.now() + 60_000;
      while (!output.includes('pods on this node reconciled with the store')) {
        assert.ok(Date.now() < deadline, `the agent did not get to registering:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const signalled = Date.now();
      agent.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, output);
      assert.ok(Date.now() - signalled < 15_000, 'it stopped promptly');
      assert.match(output, /start-up cancelled; cleaning up/);
      assert.match(output, /node agent stopped/);
    } finally {
      agent.kill('SIGKILL');
    }

    const { stdout } = await promisify(execFile)(process.execPath, [MAIN, '--sweep'], { env });
    const report = stdout.trim().split('\n').pop() ?? '';
    assert.deepEqual(JSON.parse(report), { node: 'startup-test', failures: [], leftovers: [] });
  });
});
