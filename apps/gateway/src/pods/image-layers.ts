import { Inject, Injectable } from '@nestjs/common';
import type { PinnedImage } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import { ImageRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG, LOGGER } from '../providers';

const REMEMBERED = 10_000;

/**
 * Records the layers of each newly seen digest so placement can count the
 * bytes a node still lacks. A digest's content is immutable, so remembering
 * which digests are recorded is safe (unlike caching tag -> digest, which
 * is exactly the stale-image bug pinning exists to prevent). An image index
 * is narrowed to the nodes' platform (`WARMPOD_NODE_PLATFORM`) by the same
 * rule the agents pull by, so placement counts the bytes a node will fetch.
 */
@Injectable()
export class ImageLayersRecorder {
  private readonly recorded = new Set<string>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly images: ImageRepository,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  async record(image: PinnedImage): Promise<void> {
    if (this.recorded.has(image.digest)) return;
    try {
      const description = await this.registry.describeImage(image.registry, image.repository, image.digest, this.config.nodePlatform);
      await this.images.record(image.digest, description);
      if (this.recorded.size >= REMEMBERED) this.recorded.clear();
      this.recorded.add(image.digest);
    } catch (error) {
      // Layers only sharpen placement; without them it scores on the digest alone.
      this.logger.warn({ digest: image.digest, err: messageOf(error) }, 'image layers not recorded');
    }
  }
}
