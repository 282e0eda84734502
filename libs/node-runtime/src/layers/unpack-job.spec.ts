import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError } from '../command';
import { LayerError } from './layer-error';
import { errorOf, failureOf, parseUnpackJob } from './unpack-job';

const job = {
  blobPath: '/data/layout/blobs/sha256/aa',
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: 'sha256:aa',
  diffId: 'sha256:bb',
  dir: '/data/layers/.tmp-bb-1',
  lowerDirs: ['/data/layers/cc'],
  blobVerified: true,
};

test('a job is taken field by field; zstdCommand only when given', () => {
  assert.deepEqual(parseUnpackJob(job), job);
  assert.deepEqual(parseUnpackJob({ ...job, zstdCommand: '/opt/zstd' }), { ...job, zstdCommand: '/opt/zstd' });
  assert.equal('extra' in parseUnpackJob({ ...job, extra: 1 }), false);
});

test('a malformed job is refused with the field that is wrong', () => {
  assert.throws(() => parseUnpackJob(null), /unpack job: not an object/);
  assert.throws(() => parseUnpackJob({ ...job, dir: '' }), /unpack job: dir must be a non-empty string/);
  assert.throws(() => parseUnpackJob({ ...job, lowerDirs: ['/a', 3] }), /unpack job: lowerDirs must be a list of paths/);
  assert.throws(() => parseUnpackJob({ ...job, blobVerified: 'yes' }), /unpack job: blobVerified must be a boolean/);
  assert.throws(() => parseUnpackJob({ ...job, zstdCommand: 7 }), /unpack job: zstdCommand must be a non-empty string/);
});

test('failures cross the thread keeping what the layer store tells apart', () => {
  const refused = errorOf(failureOf(new LayerError('diff_id mismatch')));
  assert.ok(refused instanceof LayerError);
  assert.equal(refused.refused, true);
  assert.equal(refused.message, 'diff_id mismatch');

  const local = errorOf(failureOf(new LayerError('zstd is missing', { refused: false })));
  assert.ok(local instanceof LayerError);
  assert.equal(local.refused, false);

  const perl = errorOf(failureOf(new CommandError('perl', 2, '', 'mknod: Operation not permitted')));
  assert.ok(perl instanceof CommandError);
  assert.deepEqual([perl.command, perl.exitCode, perl.stderr], ['perl', 2, 'mknod: Operation not permitted']);

  const full: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, write');
  full.code = 'ENOSPC';
  full.syscall = 'write';
  const back: NodeJS.ErrnoException = errorOf(failureOf(full));
  assert.deepEqual([back.message, back.code, back.syscall], [full.message, 'ENOSPC', 'write']);

  const plain = errorOf(failureOf(new TypeError('bad gzip header')));
  assert.deepEqual([plain.name, plain.message, (plain as NodeJS.ErrnoException).syscall], ['TypeError', 'bad gzip header', undefined]);
  assert.equal(errorOf(failureOf('a string')).message, 'a string');
});
