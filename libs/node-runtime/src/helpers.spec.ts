import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Mutex, writeFileAtomic } from './files';
import { ipInSubnet, isIpv4Cidr } from './ipv4';
import { parseMountinfo } from './mountinfo';

test('mountinfo: mount points are unescaped and fs types read past optional fields', () => {
  const text = [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '90 22 0:50 / /data/pods/p\\0401/merged rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c',
    '31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:9 master:2 - cgroup cgroup rw,memory',
    '',
  ].join('\n');
  assert.deepEqual(parseMountinfo(text), [
    { mountPoint: '/', fsType: 'ext4' },
    { mountPoint: '/data/pods/p 1/merged', fsType: 'overlay' },
    { mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup' },
  ]);
});

test('ipv4: subnet membership', () => {
  assert.equal(isIpv4Cidr('10.89.7.0/24'), true);
  assert.equal(isIpv4Cidr('10.89.7.0'), false);
  assert.equal(isIpv4Cidr('10.89.300.0/24'), false);
  assert.equal(ipInSubnet('10.89.7.2', '10.89.7.0/24'), true);
  assert.equal(ipInSubnet('10.89.8.2', '10.89.7.0/24'), false);
  assert.equal(ipInSubnet('10.89.8.2', '10.89.0.0/16'), true);
});

test('mutex: tasks run one at a time in call order, failures do not block', async () => {
  const mutex = new Mutex();
  const order: string[] = [];
  const slow = mutex.run(async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push('a');
  });
  const failing = mutex.run(async () => {
    order.push('b');
    throw new Error('boom');
  });
  const last = mutex.run(async () => order.push('c'));
  await slow;
  await assert.rejects(failing, /boom/);
  await last;
  assert.deepEqual(order, ['a', 'b', 'c']);
});

test('writeFileAtomic leaves only the final file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wp-atomic-'));
  try {
    await writeFileAtomic(join(dir, 'index.json'), '{"a":1}');
    await writeFileAtomic(join(dir, 'index.json'), '{"a":2}');
    assert.deepEqual(await readdir(dir), ['index.json']);
    assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), '{"a":2}');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
