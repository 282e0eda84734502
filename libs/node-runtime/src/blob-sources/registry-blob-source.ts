import type { RegistryClient } from '@warmpod/registry';
import type { BlobRequest, BlobSource } from './blob-source';

/** The image's own registry (verifies sha256 and size while streaming): the source of last resort. */
export class RegistryBlobSource implements BlobSource {
  constructor(private readonly registry: Pick<RegistryClient, 'fetchBlob'>) {}

  async fetch(r: BlobRequest): Promise<void> {
    let counted = 0;
    try {
      await this.registry.fetchBlob(r.registry, r.repository, r.digest, r.size, r.destination, (n) => {
        counted += n;
        r.onBytes(n);
      });
    } catch (error) {
      // A retry starts from zero: the progress of the failed attempt is given back.
      if (counted > 0) r.onBytes(-counted);
      throw error;
    }
  }
}
