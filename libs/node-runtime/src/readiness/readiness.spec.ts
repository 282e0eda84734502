import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveInRoot } from './resolve-in-root';
import { ReadinessTimeoutError, waitUntilStable, type ProbeOutcome } from './stable-wait';

/** A fake clock whose sleeps advance time at once. */
function clock(): { now: () => number; sleep: (ms: number) => Promise<void> } {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
}

function script(outcomes: boolean[]): () => Promise<ProbeOutcome> {
  let i = 0;
  return async () => {
    const ok = outcomes[Math.min(i, outcomes.length - 1)]!;
    i++;
    return ok ? { ok } : { ok, detail: `failure at probe ${i}` };
  };
}

describe('waitUntilStable', () => {
  test('needs N consecutive successes; a failure resets the count', async () => {
    const c = clock();
    const result = await waitUntilStable(script([false, true, true, false, true, true, true]), {
      successThreshold: 3,
      intervalMs: 100,
      deadline: 10_000,
      ...c,
    });
    assert.deepEqual(result, { attempts: 7, ms: 600 });
  });

  test('a single lucky success among failures is not readiness', async () => {
    const c = clock();
    const flapping = script([true, false, true, false, true, false, true, false, true, false, true, false]);
    await assert.rejects(
      waitUntilStable(flapping, { successThreshold: 2, intervalMs: 100, deadline: 1000, ...c }),
      (error: unknown) =>
        error instanceof ReadinessTimeoutError &&
        error.attempts === 10 &&
        /not ready by the deadline after 10 probes; last failure: failure at probe 10/.test(error.message),
    );
  });

  test('the deadline message says how far a streak got', async () => {
    const c = clock();
    await assert.rejects(
      waitUntilStable(script([false, true]), { successThreshold: 5, intervalMs: 100, deadline: 300, ...c }),
      /after 3 probes \(2 of 5 consecutive successes\); last failure: failure at probe 1/,
    );
  });

  test('threshold 1 takes the first success', async () => {
    const c = clock();
    assert.deepEqual(await waitUntilStable(script([true]), { successThreshold: 1, intervalMs: 100, deadline: 1, ...c }), {
      attempts: 1,
      ms: 0,
    });
  });

  test('an abort stops the wait with the signal reason, also during a sleep', async () => {
    const aborter = new AbortController();
    const waiting = waitUntilStable(script([false]), {
      successThreshold: 1,
      intervalMs: 60_000,
      deadline: Date.now() + 120_000,
      signal: aborter.signal,
    });
    setTimeout(() => aborter.abort(new Error('pod stopped')), 20);
    await assert.rejects(waiting, /pod stopped/);
  });
});

describe('resolveInRoot', () => {
  let root: string;
  let outside: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'wp-root-'));
    outside = await mkdtemp(join(tmpdir(), 'wp-outside-'));
    await mkdir(join(root, 'srv/app'), { recursive: true });
    await writeFile(join(root, 'srv/app/ready'), 'ok');
    await writeFile(join(outside, 'secret'), 'host file');
    await symlink('/srv/app/ready', join(root, 'abs-link'));
    await symlink('app/ready', join(root, 'srv/rel-link'));
    await symlink(join(outside, 'secret'), join(root, 'escape'));
    await symlink('../../../../..' + outside + '/secret', join(root, 'srv/dotdot-escape'));
    await symlink('loop-b', join(root, 'loop-a'));
    await symlink('loop-a', join(root, 'loop-b'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  test('plain paths, absolute and relative links resolve inside the root', async () => {
    assert.equal(await resolveInRoot(root, '/srv/app/ready'), join(root, 'srv/app/ready'));
    assert.equal(await resolveInRoot(root, '/abs-link'), join(root, 'srv/app/ready'));
    assert.equal(await resolveInRoot(root, '/srv/rel-link'), join(root, 'srv/app/ready'));
    assert.equal(await resolveInRoot(root, '/srv/app/../app/./ready'), join(root, 'srv/app/ready'));
  });

  test('missing files, links that point at host paths and link loops do not resolve', async () => {
    assert.equal(await resolveInRoot(root, '/srv/app/missing'), undefined);
    assert.equal(await resolveInRoot(root, '/escape'), undefined, 'an absolute link is taken inside the root');
    assert.equal(await resolveInRoot(root, '/srv/dotdot-escape'), undefined, '.. stops at the root');
    assert.equal(await resolveInRoot(root, '/../../..' + outside + '/secret'), undefined);
    assert.equal(await resolveInRoot(root, '/loop-a'), undefined);
  });
});
