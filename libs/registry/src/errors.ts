/** Base of every registry failure; `kind` decides the HTTP status at the gateway. */
export class RegistryError extends Error {
  override readonly name: string = 'RegistryError';
  constructor(
    message: string,
    readonly kind: 'not-found' | 'unavailable' | 'denied' | 'invalid',
  ) {
    super(message);
  }
}
