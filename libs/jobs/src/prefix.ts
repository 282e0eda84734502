/** BullMQ adds its own ':' after the prefix; warmpod prefixes end with one already. */
export function bullPrefix(prefix: string): string {
  return prefix.replace(/:+$/, '');
}
