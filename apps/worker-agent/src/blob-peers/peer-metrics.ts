import type { BlobPeer, PeerBlobEvents, PeerFailure } from '@warmpod/node-runtime';
import type { Logger, ServiceMetrics } from '@warmpod/observability';
import type { ServeOutcome } from './blob-server';

/**
 * Blobs between nodes, both ways: what this node took from peers (and the
 * peers' blobs it discarded as wrong, or gave up on), and what it served.
 * Labels are bounded: outcome only, never a node or digest.
 */
export class PeerBlobMetrics implements PeerBlobEvents {
  private readonly fetchedBlobs;
  private readonly fetchedBytes;
  private readonly servedBlobs;
  private readonly servedBytes;

  constructor(
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.fetchedBlobs = metrics.counter(
      'warmpod_peer_blob_fetches_total',
      'Blobs asked of peer nodes, by outcome: fetched, wrong (failed verification, discarded), unavailable (stalled, gone, refused)',
      ['outcome'],
    );
    this.fetchedBytes = metrics.counter('warmpod_peer_blob_fetched_bytes_total', 'Verified blob bytes taken from peer nodes', []);
    this.servedBlobs = metrics.counter(
      'warmpod_peer_blob_served_total',
      'Blob requests from peer nodes, by outcome: complete, aborted (the peer went away), busy (turned away with 503: NODE_PEER_SERVE_CONCURRENCY uploads running)',
      ['outcome'],
    );
    this.servedBytes = metrics.counter('warmpod_peer_blob_served_bytes_total', 'Blob bytes served to peer nodes', []);
  }

  fetched(_peer: BlobPeer, bytes: number): void {
    this.fetchedBlobs.inc({ outcome: 'fetched' });
    this.fetchedBytes.inc({}, bytes);
  }

  failed(peer: BlobPeer, digest: string, failure: PeerFailure, reason: string): void {
    this.fetchedBlobs.inc({ outcome: failure });
    const log = { peer: peer.node, digest, reason };
    if (failure === 'wrong') this.logger.warn(log, 'a peer served a blob that failed verification: discarded');
    else this.logger.info(log, 'a peer did not deliver a blob; trying the next source');
  }

  served(bytes: number, outcome: ServeOutcome): void {
    this.servedBlobs.inc({ outcome });
    this.servedBytes.inc({}, bytes);
  }
}
