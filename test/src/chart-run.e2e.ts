import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';

/**
 * The rendered chart runs here (issue 13, item 5): `npm run chart:run` as an
 * operator runs it. It builds the four images from this checkout, renders the
 * chart with the real helm, plays kubelet for every pod with runc, sends a pod
 * through the gateway container and one through the queue door to Succeeded on
 * the agent container's node, and fails if its stop leaves anything behind.
 * The harness's own checks are the assertions; this test holds it to its exit
 * code and to the lines that say each check passed.
 */
const CHART_RUN = resolve(__dirname, '..', '..', 'tools', 'chart-check', 'dist', 'chart-run.js');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function chartRun(): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CHART_RUN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      process.stdout.write(chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', fail);
    child.once('close', (code, signal) => done({ code, signal, output }));
  });
}

test('the rendered chart runs as runc containers of the built images and serves pods', { timeout: 15 * 60_000 }, async () => {
  const ran = await chartRun();
  assert.equal(ran.code, 0, `chart:run exited with ${ran.code ?? ran.signal}`);
  assert.match(ran.output, /pod \S+: Succeeded on \S+ \(exit 0\)/);
  assert.match(ran.output, /queue door: pod \S+ Succeeded on /);
  assert.match(ran.output, /nothing left behind: no runc container, mount, netns, bridge or cgroup of the run/);
  assert.match(ran.output, /^result: chart_run_seconds = [\d.]+$/m);
});
