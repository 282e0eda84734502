import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentHttp, agentApiAccess, tailFile } from './agent-http';

describe('agent log reads', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warmpod-agent-http-'));
    await writeFile(join(dir, 'pod-aaaaaaaaaaaaaaaaaaaa.log'), 'one\ntwo\nthree\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('tailFile keeps the last lines, and a missing file is empty', async () => {
    assert.equal(await tailFile(join(dir, 'pod-aaaaaaaaaaaaaaaaaaaa.log'), 2), 'two\nthree\n');
    assert.equal(await tailFile(join(dir, 'pod-aaaaaaaaaaaaaaaaaaaa.log'), 10), 'one\ntwo\nthree\n');
    assert.equal(await tailFile(join(dir, 'missing.log'), 10), '');
  });

  test('without TLS the endpoint answers probes only: logs need a caller certificate (agent-http.int.spec.ts)', async () => {
    const http = new AgentHttp((podId) => join(dir, `${podId}.log`));
    const base = await http.listen('127.0.0.1', 0);
    try {
      const logs = await fetch(`${base}/pods/pod-aaaaaaaaaaaaaaaaaaaa/logs?tail=1`);
      assert.equal(logs.status, 401);
      assert.doesNotMatch(await logs.text(), /three/);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    } finally {
      await http.close();
    }
  });
});

describe('agent health and readiness', () => {
  test('/readyz is 200 only when every check holds; a failing, throwing or hanging check makes it 503 and names it', async () => {
    const state = { registered: false };
    const http = new AgentHttp(() => '/nonexistent', {
      registered: () => state.registered,
      redis: async () => true,
      jobs: () => true,
    });
    const base = await http.listen('127.0.0.1', 0);
    try {
      const before = await fetch(`${base}/readyz`);
      assert.equal(before.status, 503);
      assert.deepEqual(await before.json(), { ready: false, checks: { registered: false, redis: true, jobs: true } });
      state.registered = true;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    } finally {
      await http.close();
    }

    const broken = new AgentHttp(() => '/nonexistent', {
      redis: () => Promise.reject(new Error('ECONNREFUSED')),
      jobs: () => new Promise<boolean>(() => undefined),
    });
    const { checks } = await broken.readyChecks();
    assert.deepEqual(checks, { redis: false, jobs: false });
    assert.equal((await new AgentHttp(() => '/nonexistent').readyChecks()).ready, false, 'no checks yet: not ready');
  });

  test('/healthz is 503 when the event loop was stuck, 200 again once it keeps up', async () => {
    const http = new AgentHttp(() => '/nonexistent', {}, 500);
    const base = await http.listen('127.0.0.1', 0);
    try {
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const until = Date.now() + 2_600;
      while (Date.now() < until); // block the loop, as a runaway computation would
      const stuck = await fetch(`${base}/healthz`);
      assert.equal(stuck.status, 503);
      assert.match(await stuck.text(), /event loop stalled for \d+ ms/);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    } finally {
      await http.close();
    }
  });
});

test('agent API access: probes and metrics are open; the rest only for the gateway and operators', () => {
  const as = (identity?: Parameters<typeof agentApiAccess>[1]['identity']) => ({ authorized: true, identity });
  for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal(agentApiAccess(path, { authorized: false }), 200);
  const logs = '/pods/pod-aaaaaaaaaaaaaaaaaaaa/logs';
  assert.equal(agentApiAccess(logs, { authorized: false }), 401);
  assert.equal(agentApiAccess(logs, as({ kind: 'service', name: 'gateway' })), 200);
  assert.equal(agentApiAccess(logs, as({ kind: 'operator', name: 'alice' })), 200);
  assert.equal(agentApiAccess(logs, as({ kind: 'node', name: 'node-2' })), 403);
  assert.equal(agentApiAccess(logs, as({ kind: 'service', name: 'scheduler' })), 403);
  assert.equal(agentApiAccess(logs, as(undefined)), 403);
});
