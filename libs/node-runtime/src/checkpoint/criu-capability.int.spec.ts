import assert from 'node:assert/strict';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { needsRoot, projectCriuPath, removeDir, tempDir, testLogger } from '../testing/int-fixture';
import { CriuCapability } from './criu-capability';

const logger = testLogger();
let dir = '';

before(async () => {
  if (needsRoot) return;
  dir = await tempDir('wp-criu-cap');
});

after(async () => {
  if (dir) await removeDir(dir);
});

/** A task that no longer runs: gone, or a zombie waiting for its reaper. */
async function ended(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || /\) [ZX] /.test(stat);
}

/**
 * A criu whose dump, in the given modes, does what a dump does where hardware
 * breakpoints never fire: the task is left stopped and criu never returns.
 * Everything else goes to the real criu.
 */
async function hangingCriu(name: string, hangWhen: 'breakpoints' | 'always'): Promise<{ path: string; state: string }> {
  const path = join(dir, name);
  const state = join(dir, `${name}.state`);
  const hang = hangWhen === 'always' ? 'true' : '[ -z "${CRIU_FAULT+x}" ]';
  await writeFile(
    path,
    [
      '#!/bin/sh',
      `if [ "$1" = dump ] && ${hang}; then kill -STOP "$3"; echo "$3 $$" >> '${state}'; exec sleep 600; fi`,
      `exec '${projectCriuPath}' "$@"`,
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return { path, state };
}

async function hungPids(state: string): Promise<number[]> {
  return (await readFile(state, 'utf8')).split(/\s+/).filter(Boolean).map(Number);
}

describe('CriuCapability measures the CRIU mode with a real dump and restore', { skip: needsRoot }, () => {
  test('on this node: criu check, a probe dump and restore, a mode; nothing of the probe is left', async (t) => {
    const workDir = join(dir, 'probe-real');
    const result = await CriuCapability.detect({ criuPath: projectCriuPath, workDir, logger });
    t.diagnostic(
      `criu ${result.version ?? 'none'} on ${result.kernel}: ${result.ok ? `${result.mode}, lock ${result.networkLock}` : result.reason} in ${result.measuredMs} ms`,
    );
    assert.equal(result.ok, true, result.reason);
    assert.ok(result.mode === 'breakpoints' || result.mode === 'no-breakpoints');
    // CRIU >= 4.2 from Debian is built with libnftables, and this kernel has nf_tables: a probe in a netns of its own proves it.
    assert.equal(result.networkLock, 'nftables');
    assert.equal(result.cached, false);
    assert.deepEqual(await readdir(workDir), [], 'the probe removed its directory');
  });

  test('a CRIU that cannot lock a netns with nftables still checkpoints, locking with iptables (its default)', async (t) => {
    const path = join(dir, 'criu-no-nft');
    const calls = join(dir, 'criu-no-nft.calls');
    await writeFile(
      path,
      [
        '#!/bin/sh',
        `echo "$1 $*" >> '${calls}'`,
        'case "$*" in *"--network-lock nftables"*) echo "Error (criu/netfilter.c:1): nft: lock failed" >&2; exit 1;; esac',
        `exec '${projectCriuPath}' "$@"`,
      ].join('\n'),
    );
    await chmod(path, 0o755);
    const workDir = join(dir, 'probe-no-nft');
    const result = await CriuCapability.detect({ criuPath: path, workDir, logger });
    t.diagnostic(`${result.mode ?? result.reason}, lock ${result.networkLock ?? '-'}`);
    assert.equal(result.ok, true, result.reason);
    assert.equal(result.networkLock, 'iptables');
    const dumps = (await readFile(calls, 'utf8')).split('\n').filter((l) => l.startsWith('dump '));
    assert.equal(dumps.filter((l) => l.includes('--network-lock nftables')).length, 1, 'one nftables probe, after the mode was found');
    assert.deepEqual(await readdir(workDir), [], 'the refused probe left nothing');
  });

  test('a dump that hangs with breakpoints is killed at the deadline, the frozen probe too, and CRIU_FAULT=130 is used', async (t) => {
    const criu = await hangingCriu('criu-hang-bp', 'breakpoints');
    const workDir = join(dir, 'probe-hang');
    const cacheFile = join(dir, 'cache', 'capability.json');
    const result = await CriuCapability.detect({ criuPath: criu.path, workDir, probeTimeoutMs: 1500, cacheFile, logger });
    t.diagnostic(`${result.mode ?? result.reason} in ${result.measuredMs} ms`);
    assert.equal(result.ok, true, result.reason);
    assert.equal(result.mode, 'no-breakpoints');
    assert.ok(result.measuredMs >= 1500, 'the breakpoints probe ran into its deadline');
    const [probePid, criuPid] = await hungPids(criu.state);
    assert.ok(probePid && criuPid);
    assert.equal(await ended(probePid), true, 'the stopped probe process was killed');
    assert.equal(await ended(criuPid), true, 'the hung criu was killed');
    assert.deepEqual(await readdir(workDir), [], 'no probe directory left');

    // The next agent start in this boot takes the mode from the cache, without probing.
    const again = await CriuCapability.detect({ criuPath: criu.path, workDir, probeTimeoutMs: 1500, cacheFile, logger });
    t.diagnostic(`cached: ${again.mode} in ${again.measuredMs} ms`);
    assert.deepEqual([again.ok, again.mode, again.networkLock, again.cached], [true, 'no-breakpoints', result.networkLock, true]);
    assert.equal((await hungPids(criu.state)).length, 2, 'no second probe');
    const other = await CriuCapability.detect({ criuPath: projectCriuPath, workDir, cacheFile, logger });
    assert.equal(other.cached, false, 'another criu is measured, not taken from the cache');
  });

  test('a dump that hangs in both modes: not capable, the reason names both, nothing left running', async () => {
    const criu = await hangingCriu('criu-hang-all', 'always');
    const workDir = join(dir, 'probe-hang-all');
    const result = await CriuCapability.detect({ criuPath: criu.path, workDir, probeTimeoutMs: 1000, logger });
    assert.equal(result.ok, false);
    assert.equal(result.mode, undefined);
    assert.match(
      result.reason ?? '',
      /^criu check passed but a dump and restore of a probe process failed: with hardware breakpoints: dump hung: did not finish within \d+ ms/,
    );
    assert.match(result.reason ?? '', /; with CRIU_FAULT=130 \(no breakpoints\): dump hung: /);
    const pids = await hungPids(criu.state);
    assert.equal(pids.length, 4);
    for (const pid of pids) assert.equal(await ended(pid), true, `${pid} is gone`);
    assert.deepEqual(await readdir(workDir), []);
  });

  test('criu missing: not capable, and the reason says which path', async () => {
    const result = await CriuCapability.detect({ criuPath: join(dir, 'no-such-criu'), logger });
    assert.equal(result.ok, false);
    assert.equal(result.reason, `criu is not installed (${join(dir, 'no-such-criu')} not found)`);
  });
});
