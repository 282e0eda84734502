import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { criuErrors, criuFailure } from './criu-log';

// Real excerpts of CRIU 4.2.1 on this project's 6.18 host. Every run prints the
// RLIMIT_NOFILE error first and goes on; the failure comes later.

/** `criu restore` of a probe whose pid was still held (a zombie's process group). */
const RESTORE_PID_TAKEN = [
  "Warn  (criu/kerndat.c:1799): Hardware breakpoints don't seem to work (status=137f)",
  "Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
  "Error (criu/cr-restore.c:1237): Can't fork for 20605: File exists",
  'Error (criu/cr-restore.c:2331): Restoring FAILED.',
].join('\n');

/** `criu dump -v4` that worked: the same error line, then success. */
const DUMP_OK = [
  "(00.000412) Warn  (criu/kerndat.c:1799): Hardware breakpoints don't seem to work (status=137f)",
  "(00.000950) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
  '(00.001322) Dumping processes (pid: 22419 comm: sh)',
  '(00.003100) Warn  (compel/arch/x86/src/lib/infect.c:419): Will restore 22498 with interrupted system call',
  '(00.091872) Dumping finished successfully',
].join('\n');

/** `criu dump -v4 --leave-running` of a process holding an established TCP connection (no --tcp-established). */
const DUMP_TCP_ESTABLISHED = [
  '(00.709848) ========================================',
  "(00.709880) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
  '(00.709909) Running pre-dump scripts',
  '(00.865419) 3020 fdinfo 4: pos:                0 flags:                2/0x1',
  '(00.865427) sockets: Searching for socket 0x2255e family 2',
  '(00.865429) Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using --tcp-established option.',
  '(00.865453) ----------------------------------------',
  '(00.865472) Error (criu/cr-dump.c:1545): Dump files (pid: 3020) failed with -1',
  '(00.865488) Waiting for 3020 to trap',
  '(00.929205) 3020 was stopped',
  '(00.930225) net: Unlock network',
  '(00.930235) Unfreezing tasks into 1',
  '(00.930302) Error (criu/cr-dump.c:1975): Dumping FAILED.',
].join('\n');

/** A value CRIU_FAULT must never have: set but empty. */
const EMPTY_FAULT = [
  'Error (criu/fault-injection.c:20): CRIU_FAULT out of bounds.',
  'Error (criu/crtools.c:143): Failed to initialize fault injection when initializing crtools.',
].join('\n');

describe('criuErrors', () => {
  test('leaves out the RLIMIT_NOFILE error CRIU survives on every run', () => {
    assert.deepEqual(criuErrors(DUMP_OK), []);
    assert.deepEqual(criuErrors(RESTORE_PID_TAKEN), ["Can't fork for 20605: File exists", 'Restoring FAILED.']);
  });

  test('keeps the failing lines of a timestamped dump log in order, once each', () => {
    assert.deepEqual(criuErrors(`${DUMP_TCP_ESTABLISHED}\n${DUMP_TCP_ESTABLISHED}`), [
      'inet: Connected TCP socket, consider using --tcp-established option.',
      'Dump files (pid: 3020) failed with -1',
      'Dumping FAILED.',
    ]);
  });
});

describe('criuFailure', () => {
  test('is the first line that failed, with the summary CRIU gave, never the RLIMIT_NOFILE line', () => {
    assert.equal(
      criuFailure(criuErrors(DUMP_TCP_ESTABLISHED)),
      'inet: Connected TCP socket, consider using --tcp-established option. (Dumping FAILED.)',
    );
    assert.equal(criuFailure(criuErrors(RESTORE_PID_TAKEN)), "Can't fork for 20605: File exists (Restoring FAILED.)");
    assert.equal(criuFailure(criuErrors(EMPTY_FAULT)), 'CRIU_FAULT out of bounds.');
  });

  test('a summary alone is the reason; no error at all gives none', () => {
    assert.equal(criuFailure(['Restoring FAILED.']), 'Restoring FAILED.');
    assert.equal(criuFailure(criuErrors(DUMP_OK)), undefined);
    assert.equal(criuFailure([]), undefined);
  });
});
