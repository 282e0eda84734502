import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { SYSTEM_TOOL_PATH } from '../system-path';
import { LayerError } from './layer-error';

/** The zstd program the node runs when no other is configured: found on the system's PATH. */
export const DEFAULT_ZSTD_COMMAND = 'zstd';

const STDERR_LIMIT = 2000;

/**
 * Decompresses a zstd stream through the system `zstd` program (Node's zlib
 * has no zstd): bytes written in are piped to its stdin, its stdout is read
 * out, with backpressure both ways. The stream ends only when zstd exits 0; a
 * missing program or a corrupt stream destroys it with a LayerError (the
 * former the node's trouble, `refused: false`; the latter the layer's).
 */
export function zstdDecompressor(what: string, command = DEFAULT_ZSTD_COMMAND): Duplex {
  const child = spawn(command, ['-d', '-q', '-c', '--no-progress'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: SYSTEM_TOOL_PATH, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += s;
  });
  // zstd going away mid-write is reported by its exit status, not by the EPIPE on its stdin.
  child.stdin.on('error', () => undefined);
  let outputEnded = false;
  let exitedOk = false;

  const stream = new Duplex({
    write(chunk: Buffer, _enc, done) {
      if (child.stdin.write(chunk)) done();
      else child.stdin.once('drain', () => done());
    },
    final(done) {
      child.stdin.end();
      done();
    },
    read() {
      child.stdout.resume();
    },
    destroy(error, done) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      done(error);
    },
  });
  const finishIfDone = (): void => {
    if (outputEnded && exitedOk) stream.push(null);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) child.stdout.pause();
  });
  child.stdout.on('end', () => {
    outputEnded = true;
    finishIfDone();
  });
  let settled = false;
  child.once('error', (error: NodeJS.ErrnoException) => {
    if (settled) return;
    settled = true;
    const missing = error.code === 'ENOENT';
    const message = missing
      ? `${what} is zstd-compressed and this node has no zstd program ("${command}" not found; install the zstd package)`
      : `${what}: zstd could not be started: ${error.message}`;
    stream.destroy(new LayerError(message, { cause: error, refused: false }));
  });
  child.once('close', (code, signal) => {
    if (settled) return;
    settled = true;
    if (code === 0) {
      exitedOk = true;
      finishIfDone();
      return;
    }
    // Killed by our own destroy: the stream already carries the reason.
    if (stream.destroyed) return;
    const detail = stderr.trim().split('\n').slice(-3).join('; ');
    stream.destroy(new LayerError(`${what}: zstd stream is corrupt (zstd ${signal ?? `exit ${code}`}: ${detail})`));
  });
  return stream;
}
