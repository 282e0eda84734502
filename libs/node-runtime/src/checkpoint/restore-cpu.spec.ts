import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESTORE_BUNDLE_DIR, writeRestoreBundle } from './restore-cpu';

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
