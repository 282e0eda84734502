/** One blob a pull needs: where it comes from in the registry, and where the verified bytes go. */
export interface BlobRequest {
  registry: string;
  repository: string;
  /** The pinned image being pulled (a peer holding it holds every blob of it). */
  image: string;
  digest: string;
  size: number;
  /** The file the verified blob is renamed to; nothing appears there unless it verified. */
  destination: string;
  /** Bytes received so far; a source that fails gives back what it counted with a negative `n`. */
  onBytes(n: number): void;
}

/**
 * Somewhere a blob can be fetched from (a peer node, the registry). A source
 * either leaves the verified blob at `destination` or throws, with nothing
 * written and the bytes it counted given back.
 */
export interface BlobSource {
  fetch(request: BlobRequest): Promise<void>;
  /** A pull of the pinned `image` is about to start: what fetching its blobs will look up can start now. */
  prepare?(image: string): void;
}

/** A source that does not have the blob or could not deliver it in time: the next source is asked. */
export class BlobUnavailableError extends Error {
  override readonly name = 'BlobUnavailableError';
}

/** A source sent bytes that do not hash to the digest (or not the size): discarded, and the next source is asked. */
export class BlobVerificationError extends Error {
  override readonly name = 'BlobVerificationError';
}

/**
 * Sources in order (peers first, the registry last): the first that delivers
 * wins. Only an unavailable or wrong source passes the blob on; the last
 * source's error is the pull's error (a registry error keeps its kind, which
 * decides whether the job retries).
 */
export class BlobSourceChain implements BlobSource {
  constructor(private readonly sources: readonly BlobSource[]) {
    if (sources.length === 0) throw new Error('a blob source chain needs at least one source');
  }

  prepare(image: string): void {
    for (const source of this.sources) source.prepare?.(image);
  }

  async fetch(request: BlobRequest): Promise<void> {
    for (const [i, source] of this.sources.entries()) {
      const last = i === this.sources.length - 1;
      try {
        return await source.fetch(request);
      } catch (error) {
        const passOn = error instanceof BlobUnavailableError || error instanceof BlobVerificationError;
        if (last || !passOn) throw error;
      }
    }
  }
}
