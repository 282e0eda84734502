import type { Readable } from 'node:stream';
import { messageOf } from '@warmpod/observability';
import { BlobUnavailableError, BlobVerificationError, type BlobRequest, type BlobSource } from './blob-source';
import { streamVerified } from './verified-stream';

/** Another node of the cluster and where its agent serves blobs. */
export interface BlobPeer {
  node: string;
  /** The agent's base URL (its `agentUrl`). */
  url: string;
}

/** Who holds a blob: peers in the order to ask them. */
export interface PeerDirectory {
  holders(image: string, digest: string): Promise<BlobPeer[]>;
  /** Starts reading who holds the image's blobs, for the `holders` calls of its pull. */
  prepare?(image: string): void;
}

/** Opens a peer's blob for reading; throws `BlobUnavailableError` when the peer does not serve it (or aborts). */
export interface PeerTransport {
  open(peer: BlobPeer, digest: string, signal: AbortSignal): Promise<Readable>;
}

export type PeerFailure = 'wrong' | 'unavailable';

/** What happened with peers, for metrics and logs. */
export interface PeerBlobEvents {
  fetched(peer: BlobPeer, bytes: number): void;
  failed(peer: BlobPeer, digest: string, failure: PeerFailure, reason: string): void;
}

export interface PeerBlobSourceOptions {
  directory: PeerDirectory;
  transport: PeerTransport;
  events: PeerBlobEvents;
  /** A peer that sends no bytes (headers included) for this long is left for the next source. */
  stallMs: number;
  /** A peer slower than this over a `stallMs` window is left too (0: only a stall counts). */
  minBytesPerSecond?: number;
  /** Peers asked for one blob before the registry is. */
  maxPeers: number;
}

/**
 * Blobs from the cluster's other nodes: each holder in turn, the blob
 * verified while it streams. A wrong blob is discarded and reported; a
 * stalled, absent or refusing peer passes the blob on. When no peer
 * delivers, `BlobUnavailableError` sends the chain on to the registry.
 */
export class PeerBlobSource implements BlobSource {
  constructor(private readonly o: PeerBlobSourceOptions) {}

  prepare(image: string): void {
    this.o.directory.prepare?.(image);
  }

  async fetch(r: BlobRequest): Promise<void> {
    // A directory that cannot answer (Redis away) costs the peers, never the pull.
    const holders = await this.o.directory.holders(r.image, r.digest).catch(() => []);
    for (const peer of holders.slice(0, this.o.maxPeers)) {
      try {
        await this.fromPeer(peer, r);
        this.o.events.fetched(peer, r.size);
        return;
      } catch (error) {
        const failure: PeerFailure = error instanceof BlobVerificationError ? 'wrong' : 'unavailable';
        this.o.events.failed(peer, r.digest, failure, messageOf(error));
      }
    }
    throw new BlobUnavailableError(holders.length === 0 ? `no peer holds ${r.digest}` : `no peer delivered ${r.digest}`);
  }

  private async fromPeer(peer: BlobPeer, r: BlobRequest): Promise<void> {
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${this.o.stallMs} ms`)), this.o.stallMs);
    let body: Readable;
    try {
      body = await this.o.transport.open(peer, r.digest, abort.signal);
    } catch (error) {
      throw error instanceof BlobUnavailableError ? error : new BlobUnavailableError(`peer ${peer.node}: ${messageOf(error)}`);
    } finally {
      clearTimeout(deadline);
    }
    await streamVerified(body, {
      digest: r.digest,
      size: r.size,
      destination: r.destination,
      onBytes: r.onBytes,
      stallMs: this.o.stallMs,
      minBytesPerSecond: this.o.minBytesPerSecond ?? 0,
      from: `peer ${peer.node}`,
    });
  }
}
