import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarSpecEntry } from '@warmpod/devkit';
import { runCommand } from '../command';
import { needsRoot } from '../testing/int-fixture';
import { LayerError, unpackLayer } from './unpack-layer';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let root: string;
let n = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wp-unpack-'));
});
after(() => rm(root, { recursive: true, force: true }));

async function unpack(entries: TarSpecEntry[], lowerDirs: string[] = [], tamper?: { digest?: string; diffId?: string }) {
  const tar = writeTar(entries);
  const blob = gzipSync(tar);
  const dir = join(root, `layer-${n++}`);
  await runCommand('mkdir', [dir]);
  await unpackLayer({
    source: [blob],
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: tamper?.digest ?? sha(blob),
    diffId: tamper?.diffId ?? sha(tar),
    dir,
    lowerDirs,
  });
  return dir;
}

async function getXattr(path: string, name: string): Promise<string> {
  const script = `import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())`;
  return (await runCommand('python3', ['-c', script, path, name])).stdout.trim();
}

test('files, modes, owners, times, links and xattrs are kept', { skip: needsRoot }, async () => {
  const dir = await unpack([
    { name: './', type: 'dir', mode: 0o755 },
    { name: 'etc', type: 'dir', mode: 0o750, uid: 7, gid: 8, mtime: 1_500_000_000 },
    { name: 'etc/conf', content: 'a=1\n', mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_400_000_000, xattrs: { 'user.k': 'v' } },
    { name: 'etc/hard', type: 'hardlink', linkname: 'etc/conf' },
    { name: 'etc/sym', type: 'symlink', linkname: '../nowhere', uid: 5, gid: 6 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
  ]);
  const conf = await lstat(join(dir, 'etc/conf'));
  assert.equal(conf.mode & 0o7777, 0o4755);
  assert.deepEqual([conf.uid, conf.gid, conf.mtimeMs], [1000, 1001, 1_400_000_000_000]);
  assert.equal(await readFile(join(dir, 'etc/conf'), 'utf8'), 'a=1\n');
  assert.equal((await lstat(join(dir, 'etc/hard'))).ino, conf.ino, 'a hard link within the layer is a real link');
  const etc = await lstat(join(dir, 'etc'));
  assert.deepEqual([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs], [0o750, 7, 8, 1_500_000_000_000]);
  assert.equal(await readlink(join(dir, 'etc/sym')), '../nowhere');
  assert.deepEqual([(await lstat(join(dir, 'etc/sym'))).uid, (await lstat(join(dir, 'etc/sym'))).gid], [5, 6]);
  assert.ok((await lstat(join(dir, 'run/fifo'))).isFIFO());
  assert.equal((await lstat(join(dir, 'run'))).mode & 0o7777, 0o755, 'an unlisted parent is 0755');
  assert.equal(await getXattr(join(dir, 'etc/conf'), 'user.k'), 'v');
});

test('whiteouts become overlayfs whiteouts, opaque directories get the xattr', { skip: needsRoot }, async () => {
  const dir = await unpack([
    { name: 'gone/.wh.file' },
    { name: 'opq', type: 'dir' },
    { name: 'opq/.wh..wh..opq' },
    { name: 'opq/new', content: 'x' },
  ]);
  const wh = await lstat(join(dir, 'gone/file'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(await getXattr(join(dir, 'opq'), 'trusted.overlay.opaque'), 'y');
  assert.deepEqual(await readdir(join(dir, 'opq')), ['new'], 'the marker itself is not a file');
});

test('a hard link to a file of a lower layer becomes a copy with its metadata', { skip: needsRoot }, async () => {
  const lower = await unpack([{ name: 'bin/tool', content: 'tool', mode: 0o711, uid: 3 }]);
  const upper = await unpack([{ name: 'sbin/tool', type: 'hardlink', linkname: 'bin/tool' }], [lower]);
  const st = await lstat(join(upper, 'sbin/tool'));
  assert.equal(await readFile(join(upper, 'sbin/tool'), 'utf8'), 'tool');
  assert.deepEqual([st.mode & 0o7777, st.uid], [0o711, 3]);
});

const refused: Array<[string, TarSpecEntry[], RegExp]> = [
  ['a "../" path', [{ name: '../evil', content: 'x' }], /tar entry "..\/evil" escapes the layer directory/],
  ['a nested "../" path', [{ name: 'a/../../evil', content: 'x' }], /"a\/..\/..\/evil" escapes/],
  ['an absolute path', [{ name: '/etc/evil', content: 'x' }], /"\/etc\/evil" is an absolute path/],
  [
    'a write through a symlink',
    [
      { name: 'link', type: 'symlink', linkname: '/tmp' },
      { name: 'link/evil', content: 'x' },
    ],
    /tar entry "link\/evil" writes through the symlink "link"/,
  ],
  ['a hard link out of the layer', [{ name: 'h', type: 'hardlink', linkname: '../../etc/passwd' }], /hard link target .* escapes/],
];
for (const [what, entries, message] of refused) {
  test(`${what} is refused with the entry named`, { skip: needsRoot }, async () => {
    await assert.rejects(unpack(entries), (e: unknown) => e instanceof LayerError && message.test(e.message));
  });
}

test('a wrong blob digest or diff_id is refused', { skip: needsRoot }, async () => {
  const entries = [{ name: 'f', content: 'x' }];
  const wrong = `sha256:${'0'.repeat(64)}`;
  await assert.rejects(unpack(entries, [], { digest: wrong }), /layer blob digest mismatch: expected sha256:0{64}, got sha256:/);
  await assert.rejects(unpack(entries, [], { diffId: wrong }), /diff_id mismatch: config says sha256:0{64}, content is sha256:/);
});

test('a corrupt gzip stream is an error, not a partial layer', { skip: needsRoot }, async () => {
  const blob = gzipSync(writeTar([{ name: 'f', content: 'x'.repeat(10_000) }]));
  const dir = join(root, 'corrupt');
  await runCommand('mkdir', [dir]);
  const cut = blob.subarray(0, blob.length - 20);
  await assert.rejects(
    unpackLayer({
      source: [cut],
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: sha(cut),
      diffId: sha(cut),
      dir,
      lowerDirs: [],
    }),
    /unexpected end of file|tar ends/,
  );
});
