import { Inject, Injectable } from '@nestjs/common';
import { InvalidReferenceError, parseImageReference, pin, type ImageReference, type PinnedImage } from '@warmpod/domain';
import { RegistryClient, RegistryError } from '@warmpod/registry';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { CONFIG } from '../providers';

/** How each registry failure is told to the client. */
export function registryFailure(error: RegistryError, requested: string): ApiError {
  switch (error.kind) {
    case 'not-found':
      return new ApiError(422, 'image_not_found', `image "${requested}" was not found: ${error.message}`, [
        { path: 'image', message: 'no such repository, tag or digest in the registry' },
      ]);
    case 'denied':
      return new ApiError(422, 'image_access_denied', `the registry refused access to "${requested}"`, [
        { path: 'image', message: 'access denied by the registry' },
      ]);
    case 'unavailable':
      return new ApiError(503, 'registry_unavailable', error.message);
    case 'invalid':
      return new ApiError(502, 'registry_invalid_response', error.message);
  }
}

/**
 * Pin at the door: turns the reference a client sent into the one digest
 * every later step uses. Asks the registry once, with a HEAD.
 */
@Injectable()
export class PinResolver {
  constructor(
    private readonly registry: RegistryClient,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  async resolve(requested: string): Promise<PinnedImage> {
    const ref = this.parse(requested);
    let digest: string;
    try {
      digest = (await this.registry.resolve(ref)).digest;
    } catch (error) {
      if (error instanceof RegistryError) throw registryFailure(error, requested);
      throw error;
    }
    try {
      return pin(requested, ref, digest);
    } catch (error) {
      // The registry served a digest that is malformed or not the one asked for.
      if (error instanceof InvalidReferenceError) throw new ApiError(502, 'registry_invalid_response', error.message);
      throw error;
    }
  }

  private parse(requested: string): ImageReference {
    try {
      return parseImageReference(requested, this.config.defaultRegistry);
    } catch (error) {
      if (error instanceof InvalidReferenceError) {
        throw new ApiError(400, 'invalid_image_reference', error.message, [{ path: 'image', message: error.message }]);
      }
      throw error;
    }
  }
}
