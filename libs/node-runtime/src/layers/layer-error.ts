/**
 * A layer that cannot be unpacked as given: bad digest, escaping entry,
 * unsupported content (`refused`: pulling it again gives the same bytes, so a
 * retry cannot help). Local failures (a full disk) carry `refused: false`.
 */
export class LayerError extends Error {
  override readonly name = 'LayerError';
  readonly refused: boolean;

  constructor(message: string, options?: ErrorOptions & { refused?: boolean }) {
    super(message, options);
    this.refused = options?.refused ?? true;
  }
}
