import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { baseRuntimeConfigSchema } from '../runtime-spec';
import { baseRuntimeConfig } from './base-config';
import { imageDiffIds } from './image-layers';

let lower: string;
let upper: string;
before(async () => {
  lower = await mkdtemp(join(tmpdir(), 'wp-base-config-'));
  upper = await mkdtemp(join(tmpdir(), 'wp-base-config-'));
  await mkdir(join(lower, 'etc'));
  await writeFile(join(lower, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
  await writeFile(join(lower, 'etc/group'), 'root:x:0:\napp:x:1001:\nextra:x:2000:app,other\n');
  await mkdir(join(upper, 'etc'));
  await writeFile(join(upper, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1500:1500::/home/app:/bin/sh\n');
});
after(async () => {
  await rm(lower, { recursive: true, force: true });
  await rm(upper, { recursive: true, force: true });
});

const user = async (User: string, layers = [lower]) => (await baseRuntimeConfig({ config: { User } }, layers)).process.user;

test('the base config is what buildRuntimeSpec accepts, with the image process', async () => {
  const config = await baseRuntimeConfig({ config: { Entrypoint: ['/bin/app'], Cmd: ['serve'], WorkingDir: '/srv' } }, [lower]);
  assert.ok(baseRuntimeConfigSchema.safeParse(config).success);
  assert.deepEqual(config.process.args, ['/bin/app', 'serve']);
  assert.equal(config.process.cwd, '/srv');
  assert.deepEqual(config.process.user, { uid: 0, gid: 0 });
});

test('users resolve as umoci resolves them, from the topmost /etc/passwd', async () => {
  assert.deepEqual(await user('app'), { uid: 1000, gid: 1001, additionalGids: [2000] });
  assert.deepEqual(await user('1000'), { uid: 1000, gid: 1001, additionalGids: [2000] });
  assert.deepEqual(await user('4242'), { uid: 4242, gid: 0 });
  assert.deepEqual(await user('app:extra'), { uid: 1000, gid: 2000 });
  assert.deepEqual(await user('5:6'), { uid: 5, gid: 6 });
  assert.equal((await user('app', [upper, lower])).uid, 1500, 'an upper layer passwd shadows a lower one');
  await assert.rejects(user('nobody'), /image user "nobody" is not in the image's \/etc\/passwd/);
  await assert.rejects(user('app:nogroup'), /image group "nogroup" is not in the image's \/etc\/group/);
});

test('diff_ids are validated against the manifest layers', () => {
  const id = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(imageDiffIds({ rootfs: { type: 'layers', diff_ids: [id] } }, 1), [id]);
  assert.throws(() => imageDiffIds({ rootfs: { type: 'layers', diff_ids: [id] } }, 2), /lists 1 diff_ids for 2 layers/);
  assert.throws(() => imageDiffIds({ rootfs: { type: 'layers', diff_ids: ['md5:x'] } }, 1), /rootfs is invalid at rootfs.diff_ids.0/);
  assert.throws(() => imageDiffIds({}, 0), /rootfs is invalid at rootfs/);
});
