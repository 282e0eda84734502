import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentHttp, tailFile } from './agent-http';

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

  test('the HTTP endpoint serves logs by pod id and refuses anything else', async () => {
    const http = new AgentHttp((podId) => join(dir, `${podId}.log`));
    const base = await http.listen('127.0.0.1', 0);
    try {
      const ok = await fetch(`${base}/pods/pod-aaaaaaaaaaaaaaaaaaaa/logs?tail=1`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'three\n');
      const traversal = await fetch(`${base}/pods/..%2F..%2Fetc%2Fpasswd/logs`);
      assert.equal(traversal.status, 404);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    } finally {
      await http.close();
    }
  });
});
