import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { criuRestorePhases } from './criu-phases';

const LOG = [
  '(00.000000) CRIU run id = x',
  '(00.000237) File /run/criu.kdat does not exist',
  '(00.351592) Reading image tree',
  '(00.551986)      1: mnt: Restoring mount namespace',
  '(01.063675) Running post-setup-namespaces scripts',
  '(01.098703) Running network-unlock scripts',
  'a line without a timestamp',
  '(01.402339) Running post-resume scripts',
].join('\n');

test("criuRestorePhases splits a restore.log at CRIU's own lines", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'criu-phases-'));
  try {
    await writeFile(join(dir, 'restore.log'), LOG);
    const p = await criuRestorePhases(join(dir, 'restore.log'));
    const round = (ms: number | undefined) => Math.round(ms ?? Number.NaN);
    assert.deepEqual(
      [p.criuKdatMs, p.criuForkMs, p.criuMountsMs, p.criuTasksMs, p.criuResumeMs, p.criuTotalMs].map(round),
      [352, 200, 512, 35, 304, 1402],
    );
    await writeFile(join(dir, 'short.log'), '(00.100000) Reading image tree\n(00.200000) Error (criu/x.c:1): failed');
    assert.deepEqual(await criuRestorePhases(join(dir, 'short.log')), { criuKdatMs: 100, criuTotalMs: 200 });
    assert.deepEqual(await criuRestorePhases(join(dir, 'missing.log')), {});
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
