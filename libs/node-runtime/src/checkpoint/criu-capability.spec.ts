import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { explainCriuCheckFailure } from './criu-capability';
import { criuErrors } from './criu-log';

/** `criu check` on Linux 6.18 with Debian bookworm's CRIU 3.17.1, as printed. */
const VDSO_CHECK_OUTPUT = [
  'Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds',
  'Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable',
  'Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.',
  'Error (criu/crtools.c:260): Could not initialize kernel features detection.',
].join('\n');

/** The same failure inside `runc checkpoint`'s dump.log: timestamps, and the log goes on after the errors. */
const DUMP_LOG = [
  '(00.026977) vdso: nbucket 3 nchain e bucket 7fb488d27128 chain 7fb488d27134',
  '(00.026979) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds',
  '(00.026981) Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable',
  '(00.026982) Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.',
  '(00.027002) Adjust mmap_min_addr 0x1000 -> 0x10000',
  '(00.027008) files stat: fs/nr_open 1048576',
].join('\n');

describe('criuErrors', () => {
  test('takes the Error lines of criu check output without their source location', () => {
    assert.deepEqual(criuErrors(VDSO_CHECK_OUTPUT), [
      'vdso: Unexpected rt vDSO area bounds',
      'vdso: Failed to fill self vdso symtable',
      'kerndat_vdso_fill_symtable failed when initializing kerndat.',
      'Could not initialize kernel features detection.',
    ]);
  });

  test('finds them in the middle of a timestamped dump log, once each', () => {
    assert.deepEqual(criuErrors(`${DUMP_LOG}\n${DUMP_LOG}`), [
      'vdso: Unexpected rt vDSO area bounds',
      'vdso: Failed to fill self vdso symtable',
      'kerndat_vdso_fill_symtable failed when initializing kerndat.',
    ]);
    assert.deepEqual(criuErrors('(00.1) Warn (criu/x.c:1): something\nLooks good.'), []);
  });
});

describe('explainCriuCheckFailure', () => {
  test('kernel >= 6.13 with CRIU < 4: names the vDSO layout, both versions and the fix', () => {
    const reason = explainCriuCheckFailure(VDSO_CHECK_OUTPUT, '3.17.1', '6.18.44-fc-v657');
    assert.match(
      reason,
      /^vDSO layout unsupported: kernel 6\.18\.44-fc-v657 \(>= 6\.13\) maps \[vvar\], \[vvar_vclock\] and \[vdso\] separately/,
    );
    assert.match(reason, /CRIU 3\.17\.1 \(< 4\) does not understand/);
    assert.match(reason, /criu check: vdso: Unexpected rt vDSO area bounds; /);
    assert.match(explainCriuCheckFailure(VDSO_CHECK_OUTPUT, '3.19', '6.13.0'), /^vDSO layout unsupported/);
  });

  test('the same error text on another kernel or CRIU is reported as it is, not explained wrongly', () => {
    assert.match(
      explainCriuCheckFailure(VDSO_CHECK_OUTPUT, '3.17.1', '6.12.9'),
      /^criu check failed: vdso: Unexpected rt vDSO area bounds/,
    );
    assert.match(explainCriuCheckFailure(VDSO_CHECK_OUTPUT, '4.0', '6.18.1'), /^criu check failed: vdso: Unexpected/);
  });

  test('other failures list CRIU errors, or the last lines when there are none', () => {
    assert.equal(
      explainCriuCheckFailure("Error (criu/cr-check.c:1): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP", '3.17.1', '5.10.0'),
      "criu check failed: Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP",
    );
    assert.equal(explainCriuCheckFailure('a\nb\nc\nd\n', '3.17.1', '5.10.0'), 'criu check failed: b; c; d');
    assert.equal(explainCriuCheckFailure('', '3.17.1', '5.10.0'), 'criu check failed: no output');
  });
});
