export const REGISTRY_ERROR_KINDS = ['not-found', 'unavailable', 'denied', 'invalid'] as const;
export type RegistryErrorKind = (typeof REGISTRY_ERROR_KINDS)[number];

/** Base of every registry failure; `kind` decides the HTTP status at the gateway. */
export class RegistryError extends Error {
  override readonly name: string = 'RegistryError';
  constructor(
    message: string,
    readonly kind: RegistryErrorKind,
  ) {
    super(message);
  }
}

/** A registry's refusal by HTTP status: absent, access refused, or (anything else) away. */
export function statusError(registry: string, what: string, status: number): RegistryError {
  if (status === 404) return new RegistryError(`${what} not found in registry ${registry}`, 'not-found');
  if (status === 401 || status === 403) {
    return new RegistryError(`registry ${registry} refused access to ${what} (HTTP ${status})`, 'denied');
  }
  return new RegistryError(`registry ${registry} answered HTTP ${status} for ${what}`, 'unavailable');
}
