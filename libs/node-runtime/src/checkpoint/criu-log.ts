import { open } from 'node:fs/promises';

// `(00.026979) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds`; `criu check` prints the same without the time.
const CRIU_ERROR = /^(?:\(\s*[\d.]+\)\s*)?Error \([^)]*\):\s*(.*)$/;

/**
 * The `Error (...)` lines of CRIU output, without their source location,
 * in order and without repeats. CRIU keeps logging after its first error, so
 * these, not the last lines, say what went wrong.
 */
export function criuErrors(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const message = CRIU_ERROR.exec(line.trim())?.[1]?.trim();
    if (message && !found.includes(message)) found.push(message);
  }
  return found;
}

/** The last `bytes` of a file (a CRIU or container log); '' when it cannot be read. */
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

/** A whole CRIU log, bounded: the errors are usually in the middle, not at the end. */
export async function readCriuLog(path: string, maxBytes = 4 * 1024 * 1024): Promise<{ errors: string[]; tail: string }> {
  const text = await readTail(path, maxBytes);
  return { errors: criuErrors(text), tail: text.split('\n').slice(-15).join('\n') };
}
