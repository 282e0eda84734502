import { CommandError } from '../command';
import { LayerError } from './layer-error';

/**
 * The contract between the layer store and its unpack worker thread. Kept free
 * of zod and everything else the worker does not run: the point of the worker
 * is an isolate with a small heap (see unpackInThread).
 */

/** One layer blob on disk to unpack into an empty directory. */
export interface UnpackJob {
  blobPath: string;
  mediaType: string;
  digest: string;
  diffId: string;
  dir: string;
  lowerDirs: string[];
  blobVerified: boolean;
  zstdCommand?: string;
}

/** A failure as it crosses from the worker: enough to rebuild what the layer store tells apart. */
export interface UnpackFailure {
  name: string;
  message: string;
  /** Set for a LayerError: whether pulling the layer again could help. */
  refused?: boolean;
  code?: string;
  syscall?: string;
  /** Set for a helper program that failed (perl for device nodes and xattrs). */
  command?: { command: string; exitCode: number | null; stdout: string; stderr: string };
}

export type UnpackReply = { ok: true; layer: { diffBytes: number; entries: number } } | { ok: false; failure: UnpackFailure };

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The job as the worker receives it, checked field by field. */
export function parseUnpackJob(data: unknown): UnpackJob {
  if (typeof data !== 'object' || data === null) throw new Error('unpack job: not an object');
  const get = (key: string): unknown => Reflect.get(data, key);
  const text = (key: string): string => {
    const v = get(key);
    if (!isString(v)) throw new Error(`unpack job: ${key} must be a non-empty string`);
    return v;
  };
  const [blobPath, mediaType, digest, diffId, dir] = [text('blobPath'), text('mediaType'), text('digest'), text('diffId'), text('dir')];
  const lowerDirs = get('lowerDirs');
  if (!Array.isArray(lowerDirs) || !lowerDirs.every(isString)) throw new Error('unpack job: lowerDirs must be a list of paths');
  const blobVerified = get('blobVerified');
  if (typeof blobVerified !== 'boolean') throw new Error('unpack job: blobVerified must be a boolean');
  const zstdCommand = get('zstdCommand');
  if (zstdCommand !== undefined && !isString(zstdCommand)) throw new Error('unpack job: zstdCommand must be a non-empty string');
  return { blobPath, mediaType, digest, diffId, dir, lowerDirs, blobVerified, ...(zstdCommand !== undefined ? { zstdCommand } : {}) };
}

/** The failure of an unpack, as plain data a worker can post. */
export function failureOf(error: unknown): UnpackFailure {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, syscall } = error as NodeJS.ErrnoException;
  return {
    name: error.name,
    message: error.message,
    ...(error instanceof LayerError ? { refused: error.refused } : {}),
    ...(error instanceof CommandError
      ? { command: { command: error.command, exitCode: error.exitCode, stdout: error.stdout, stderr: error.stderr } }
      : {}),
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof syscall === 'string' ? { syscall } : {}),
  };
}

/** The error again on the store's side: a LayerError or CommandError stays one; a failed system call keeps its code and syscall. */
export function errorOf(failure: UnpackFailure): Error {
  if (failure.refused !== undefined) return new LayerError(failure.message, { refused: failure.refused });
  if (failure.command) {
    const { command, exitCode, stdout, stderr } = failure.command;
    return new CommandError(command, exitCode, stdout, stderr);
  }
  const error: NodeJS.ErrnoException = new Error(failure.message);
  error.name = failure.name;
  if (failure.code !== undefined) error.code = failure.code;
  if (failure.syscall !== undefined) error.syscall = failure.syscall;
  return error;
}
