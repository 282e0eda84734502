import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cpuLimitOnce, RESTORE_BUNDLE_DIR, writeRestoreBundle } from './restore-cpu';

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'restore-cpu-'))));
after(() => rm(dir, { recursive: true, force: true }));

const spec = {
  ociVersion: '1.0.2',
  root: { path: '/pods/p/merged' },
  linux: { cgroupsPath: '/wp/p', resources: { memory: { limit: 67108864 }, cpu: { quota: 10000, period: 100000, shares: 2 } } },
};

describe('writeRestoreBundle', () => {
  test('writes the pod spec without its CPU quota beside it and returns the quota to apply; the pod spec stays as it was', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
    const { dir: restoreDir, cpu } = await writeRestoreBundle(dir);
    assert.equal(restoreDir, join(dir, RESTORE_BUNDLE_DIR));
    assert.deepEqual(cpu, { quota: 10000, period: 100000 });
    const written = JSON.parse(await readFile(join(restoreDir, 'config.json'), 'utf8')) as typeof spec;
    assert.deepEqual(written, { ...spec, linux: { ...spec.linux, resources: { memory: { limit: 67108864 }, cpu: { shares: 2 } } } });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')), spec);
  });

  test('a spec without a CPU quota is copied as it is, with nothing to apply', async () => {
    const unlimited = { ...spec, linux: { cgroupsPath: '/wp/p' } };
    await writeFile(join(dir, 'config.json'), JSON.stringify(unlimited));
    const { dir: restoreDir, cpu } = await writeRestoreBundle(dir);
    assert.equal(cpu, undefined);
    assert.deepEqual(JSON.parse(await readFile(join(restoreDir, 'config.json'), 'utf8')), unlimited);
  });

  test('a config.json that is not JSON, or not a runtime spec, is refused naming the file', async () => {
    await writeFile(join(dir, 'config.json'), '{not json');
    await assert.rejects(writeRestoreBundle(dir), (e: Error) => e.message.includes(join(dir, 'config.json')));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ linux: { resources: { cpu: { quota: 'lots' } } } }));
    await assert.rejects(writeRestoreBundle(dir), (e: Error) => e.message.includes('is not a runtime spec'));
  });
});

describe('cpuLimitOnce', () => {
  const limit = { quota: 10000, period: 100000 };
  const cgroup = async (name: string) => {
    const cg = join(dir, name);
    await mkdir(cg, { recursive: true });
    await writeFile(join(cg, 'cpu.max'), 'max 100000');
    return { version: 2 as const, dir: cg };
  };

  test('sets the quota when called, once: a second call does not write again', async () => {
    const target = await cgroup('called');
    const limitCpu = cpuLimitOnce(target, limit, 60_000, () => assert.fail('no timer write'));
    assert.equal(await readFile(join(target.dir, 'cpu.max'), 'utf8'), 'max 100000', 'not before the call');
    await limitCpu();
    assert.equal(await readFile(join(target.dir, 'cpu.max'), 'utf8'), '10000 100000');
    await writeFile(join(target.dir, 'cpu.max'), 'changed');
    await limitCpu();
    assert.equal(await readFile(join(target.dir, 'cpu.max'), 'utf8'), 'changed');
  });

  test('not called: set by the timer at the bound', async () => {
    const target = await cgroup('bound');
    cpuLimitOnce(target, limit, 20, () => assert.fail('the write works'));
    const deadline = Date.now() + 5_000;
    while ((await readFile(join(target.dir, 'cpu.max'), 'utf8')) !== '10000 100000') {
      assert.ok(Date.now() < deadline, 'the timer set the quota');
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  test('a cgroup already gone is not an error; a write that fails on a live one is', async () => {
    await cpuLimitOnce({ version: 2, dir: join(dir, 'gone') }, limit, 0, () => undefined)();
    const target = await cgroup('unwritable');
    await rm(join(target.dir, 'cpu.max'));
    await mkdir(join(target.dir, 'cpu.max'));
    await assert.rejects(cpuLimitOnce(target, limit, 0, () => undefined)(), /could not set the CPU quota in/);
  });
});
