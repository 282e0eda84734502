import { readTail } from '../shim-files';

export { readTail };

// `(00.026979) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds`; `criu check` prints the same without the time.
const CRIU_ERROR = /^(?:\(\s*[\d.]+\)\s*)?Error \([^)]*\):\s*(.*)$/;

/**
 * `Error` lines CRIU prints and then carries on from: never the reason an
 * operation failed. Raising its own RLIMIT_NOFILE is refused in a container
 * without CAP_SYS_RESOURCE over the hard limit, on every run.
 */
const NON_FATAL = [/^rlimit: Can't setup RLIMIT_NOFILE for self: /];

/** The closing lines of a failed run: true, but they say nothing about why. */
const SUMMARY = [/^(?:Dumping|Restoring|Pre-dumping) FAILED\.?$/, /^Exiting with error code/];

/**
 * The `Error (...)` lines of CRIU output that can make an operation fail,
 * without their source location, in order and without repeats. CRIU keeps
 * logging after its first error, so these, not the last lines, say what went
 * wrong.
 */
export function criuErrors(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const message = CRIU_ERROR.exec(line.trim())?.[1]?.trim();
    if (!message || found.includes(message) || NON_FATAL.some((re) => re.test(message))) continue;
    found.push(message);
  }
  return found;
}

/**
 * Why a CRIU run failed, from its errors: the first that is not a closing
 * summary (the errors after it are consequences), followed by the summary
 * CRIU gave. Undefined when the log holds no error.
 */
export function criuFailure(errors: readonly string[]): string | undefined {
  const cause = errors.find((e) => !SUMMARY.some((re) => re.test(e)));
  const summary = errors.find((e) => SUMMARY.some((re) => re.test(e)));
  if (cause === undefined) return summary;
  return summary === undefined ? cause : `${cause} (${summary})`;
}

/** A whole CRIU log, bounded: the errors are usually in the middle, not at the end. */
export async function readCriuLog(
  path: string,
  maxBytes = 4 * 1024 * 1024,
): Promise<{ errors: string[]; failure: string | undefined; tail: string }> {
  const text = await readTail(path, maxBytes);
  const errors = criuErrors(text);
  return { errors, failure: criuFailure(errors), tail: text.split('\n').slice(-15).join('\n') };
}
