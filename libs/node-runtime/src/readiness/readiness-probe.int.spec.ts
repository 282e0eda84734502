import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { CheckpointCondition } from '@warmpod/domain';
import { needsRoot } from '../testing/int-fixture';
import { PodHarness, type HarnessPod } from '../testing/pod-harness';
import { ReadinessProbe, type ReadinessTarget } from './readiness-probe';
import { ReadinessTimeoutError, waitUntilStable } from './stable-wait';

const harness = new PodHarness();
let probe: ReadinessProbe;
let httpPod: HarnessPod;

const target = (pod: HarnessPod): ReadinessTarget => ({ podId: pod.podId, ip: pod.ip, rootfsDir: pod.merged });
const FAST = { intervalMs: 100, probeTimeoutMs: 1000 };

/** TCP sockets of the pod's netns in a state CRIU will not dump without --tcp-established (ESTABLISHED, CLOSE_WAIT). */
async function openConnections(pid: number): Promise<string[]> {
  const tables = await Promise.all(['tcp', 'tcp6'].map((t) => readFile(`/proc/${pid}/net/${t}`, 'utf8').catch(() => '')));
  return tables
    .flatMap((t) => t.split('\n').slice(1))
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[3] === '01' || cols[3] === '08')
    .map((cols) => `${cols[1]} -> ${cols[2]} state ${cols[3]}`);
}

before(async () => {
  if (needsRoot) return;
  await harness.start('wp-ready-int');
  probe = new ReadinessProbe({ runcRoot: harness.runtimeOptions.runcRoot, logger: harness.logger });
  httpPod = await harness.runPod(harness.images.http);
});

after(async () => {
  await harness.cleanup.run();
});

describe('ReadinessProbe against real runc pods', { skip: needsRoot }, () => {
  test('http: a 2xx answer, three times in a row; a 404 is not ready and says so', async () => {
    const result = await probe.waitUntilReady(target(httpPod), { type: 'http', port: 8080, path: '/' }, { timeoutMs: 10_000, ...FAST });
    assert.ok(result.attempts >= 3, `${result.attempts} attempts`);
    await assert.rejects(
      probe.waitUntilReady(target(httpPod), { type: 'http', port: 8080, path: '/missing' }, { timeoutMs: 600, ...FAST }),
      (e: unknown) => e instanceof ReadinessTimeoutError && /answered 404/.test(e.message),
    );
  });

  test('tcp: a connection accepted; a closed port is refused with its reason', async () => {
    await probe.waitUntilReady(target(httpPod), { type: 'tcp', port: 8080 }, { timeoutMs: 10_000, ...FAST });
    await assert.rejects(
      probe.waitUntilReady(target(httpPod), { type: 'tcp', port: 9 }, { timeoutMs: 400, ...FAST }),
      (e: unknown) => e instanceof ReadinessTimeoutError && /ECONNREFUSED/.test(e.message),
    );
  });

  test('probes leave no established or half-closed connection in the pod for a checkpoint to trip on', async () => {
    await probe.waitUntilReady(
      target(httpPod),
      { type: 'http', port: 8080, path: '/' },
      { timeoutMs: 10_000, ...FAST, successThreshold: 5 },
    );
    await probe.waitUntilReady(target(httpPod), { type: 'tcp', port: 8080 }, { timeoutMs: 10_000, ...FAST, successThreshold: 5 });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await openConnections(httpPod.pid), []);
  });

  test('exec: a command in the container exiting 0; a failing one reports its exit code', async () => {
    await probe.waitUntilReady(
      target(httpPod),
      { type: 'exec', command: ['sh', '-c', 'test -e /www/index.html'] },
      { timeoutMs: 10_000, ...FAST },
    );
    assert.deepEqual(await probe.probeOnce(target(httpPod), { type: 'exec', command: ['sh', '-c', 'echo not yet >&2; exit 3'] }), {
      ok: false,
      detail: 'sh exited with 3: not yet',
    });
  });

  test('file: waits for the path the process creates, resolved inside the pod root', async () => {
    const pod = await harness.runPod(harness.images.hello, {
      command: ['sh', '-c'],
      args: ['sleep 1; mkdir -p /run/app; echo ok > /run/app/ready; exec sleep 3600'],
    });
    const condition: CheckpointCondition = { type: 'file', path: '/run/app/ready' };
    assert.deepEqual(await probe.probeOnce(target(pod), condition), {
      ok: false,
      detail: "/run/app/ready does not exist in the pod's root",
    });
    const started = Date.now();
    await probe.waitUntilReady(target(pod), condition, { timeoutMs: 10_000, ...FAST });
    assert.ok(Date.now() - started >= 700, 'not before the file exists');
    await harness.runtime.stop(pod.podId, 200);
  });

  test('a pod of several workers is ready when the pod says so, not when its first worker is', async () => {
    // Worker 1 is up after 0.2 s, worker 2 after 1.5 s; the pod serves /ready once both are.
    const script = [
      'mkdir -p /srv /tmp; echo home > /srv/index.html; httpd -p 8080 -h /srv',
      '(sleep 0.2; echo up > /tmp/w1; exec sleep 3600) &',
      '(sleep 1.5; echo up > /tmp/w2; exec sleep 3600) &',
      'while [ ! -e /tmp/w1 ] || [ ! -e /tmp/w2 ]; do sleep 0.05; done',
      'echo ready > /srv/ready; wait',
    ].join('\n');
    const pod = await harness.runPod(harness.images.hello, { command: ['sh', '-c'], args: [script] });
    const startedAt = Date.now();
    const firstWorkerUp = (async (): Promise<number> => {
      while (Date.now() - startedAt < 15_000) {
        if (
          await readFile(`${pod.merged}/tmp/w1`).then(
            () => true,
            () => false,
          )
        )
          return Date.now() - startedAt;
        await new Promise((r) => setTimeout(r, 20));
      }
      return Infinity;
    })();
    const conditions: CheckpointCondition[] = [
      { type: 'http', port: 8080, path: '/ready' },
      { type: 'file', path: '/srv/ready' },
      { type: 'exec', command: ['sh', '-c', 'test -e /tmp/w1 && test -e /tmp/w2'] },
    ];
    const readyAfter = await Promise.all(
      conditions.map(async (c) => {
        await probe.waitUntilReady(target(pod), c, { timeoutMs: 15_000, ...FAST });
        return Date.now() - startedAt;
      }),
    );
    const firstUp = await firstWorkerUp;
    for (const [i, ms] of readyAfter.entries()) {
      assert.ok(ms >= 1400, `${conditions[i]!.type} ready after ${ms} ms, worker 1 was up after ${firstUp} ms`);
    }
    assert.ok(firstUp < 1000, `worker 1 up after ${firstUp} ms`);
    await harness.runtime.stop(pod.podId, 200);
  });

  test('a flapping service answers single probes but never counts as ready', async () => {
    // One connection at a time, then the port is closed for 0.6 s.
    const pod = await harness.runPod(harness.images.hello, {
      command: ['sh', '-c'],
      args: ['while true; do nc -l -p 9000 </dev/null >/dev/null 2>&1; sleep 0.6; done'],
    });
    const condition: CheckpointCondition = { type: 'tcp', port: 9000 };
    let successes = 0;
    const counted = async () => {
      const outcome = await probe.probeOnce(target(pod), condition, 500);
      if (outcome.ok) successes++;
      return outcome;
    };
    await assert.rejects(
      waitUntilStable(counted, { successThreshold: 3, intervalMs: 100, deadline: Date.now() + 3000 }),
      (e: unknown) => e instanceof ReadinessTimeoutError && /ECONNREFUSED/.test(e.message),
    );
    assert.ok(successes >= 2, `${successes} single probes succeeded`);
    const lucky = await probe.waitUntilReady(target(pod), condition, { timeoutMs: 3000, ...FAST, successThreshold: 1 });
    assert.ok(lucky.attempts >= 1, 'with a threshold of 1 the same service would have passed');
    await harness.runtime.stop(pod.podId, 200);
  });

  test('an abort ends the wait at once with the abort reason', async () => {
    const aborter = new AbortController();
    const waiting = probe.waitUntilReady(
      target(httpPod),
      { type: 'file', path: '/never' },
      { timeoutMs: 60_000, ...FAST, signal: aborter.signal },
    );
    setTimeout(() => aborter.abort(new Error('pod deleted')), 150);
    const started = Date.now();
    await assert.rejects(waiting, /pod deleted/);
    assert.ok(Date.now() - started < 1000);
  });
});
