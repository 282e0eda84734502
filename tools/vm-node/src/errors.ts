export class VmNodeError extends Error {
  override readonly name = 'VmNodeError';
}

/** The last lines of a log, for error messages. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}
