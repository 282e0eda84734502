/** A failure that retrying cannot fix: the runner turns it into BullMQ's UnrecoverableError. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}
