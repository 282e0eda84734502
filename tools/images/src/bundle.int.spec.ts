import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { bundleApp } from './bundle';
import { SERVICES } from './image-plan';

const repoRoot = resolve(__dirname, '..', '..', '..');
let out: string;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'wp-bundle-'));
});
after(() => rm(out, { recursive: true, force: true }));

test("the agent's bundle carries its worker scripts beside it, and they run from there", async () => {
  const agent = SERVICES.find((s) => s.name === 'worker-agent');
  assert.ok(agent);
  const bundle = await bundleApp({ repoRoot, app: agent.app, outDir: out, name: agent.name, workerScripts: agent.workerScripts });
  const worker = join(out, 'bin', 'unpack-worker.js');
  const download = join(out, 'bin', 'blob-download-worker.js');
  assert.deepEqual(bundle.workers, [download, worker]);
  assert.equal(join(bundle.entry, '..'), join(worker, '..'), 'the code starting the worker looks beside its own file');
  assert.ok((await stat(worker)).size > 0);
  // Standalone: it loads without the repo's node_modules and answers a bad job with the reason.
  const reply = await new Promise<unknown>((done, fail) => {
    const w = new Worker(worker, { workerData: { blobPath: '' } });
    w.once('message', done);
    w.once('error', fail);
  });
  assert.deepEqual(reply, { ok: false, failure: { name: 'Error', message: 'unpack job: blobPath must be a non-empty string' } });
  const downloadReply = await new Promise<unknown>((done, fail) => {
    const w = new Worker(download, { workerData: { url: 'http://127.0.0.1:1/v2/x/blobs/sha256:0' } });
    w.once('message', done);
    w.once('error', fail);
  });
  assert.deepEqual(downloadReply, { ok: false, message: 'download job: registry must be a non-empty string', kind: 'unavailable' });
});
