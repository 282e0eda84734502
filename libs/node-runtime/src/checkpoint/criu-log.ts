import { readTail } from '../shim-files';

export { readTail };

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

/** A whole CRIU log, bounded: the errors are usually in the middle, not at the end. */
export async function readCriuLog(path: string, maxBytes = 4 * 1024 * 1024): Promise<{ errors: string[]; tail: string }> {
  const text = await readTail(path, maxBytes);
  return { errors: criuErrors(text), tail: text.split('\n').slice(-15).join('\n') };
}
