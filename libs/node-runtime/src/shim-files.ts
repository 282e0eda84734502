import { open, readFile } from 'node:fs/promises';

/**
 * What a container's shim leaves on disk, read the same way by the runtime
 * and the checkpointer: runc writes the pid file atomically (temp file +
 * rename) and the shim renames its exit file into place, so a present file
 * is complete.
 */
export async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function readExitCode(exitFile: string): Promise<number | undefined> {
  const text = await readFile(exitFile, 'utf8').catch(() => undefined);
  return text !== undefined && /^\d+\s*$/.test(text) ? Number.parseInt(text, 10) : undefined;
}

/** The last `bytes` of a file (a container or CRIU log); '' when it cannot be read. */
export async function readTail(path: string, bytes = 2000): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - bytes);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8').trim();
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
