import { BlobSourceChain, PeerBlobSource, RegistryBlobSource, type BlobSource } from '@warmpod/node-runtime';
import type { ClusterTls } from '@warmpod/observability';
import type { RegistryClient } from '@warmpod/registry';
import type { NodeRepository, PullRepository } from '@warmpod/store';
import { StorePeerDirectory } from './peer-directory';
import type { PeerBlobMetrics } from './peer-metrics';
import { HttpsPeerTransport } from './peer-transport';

export interface NodeBlobSourcesDeps {
  nodeId: string;
  registry: Pick<RegistryClient, 'fetchBlob'>;
  /** Peers' blobs: off (undefined) means the registry alone. */
  peers?: { stallMs: number; minBytesPerSecond?: number; maxPeers: number };
  tls: Pick<ClusterTls, 'current'>;
  nodes: Pick<NodeRepository, 'list'>;
  pulls: Pick<PullRepository, 'forDigest'>;
  events: PeerBlobMetrics;
}

/** Where this node's pulls take blobs: peers that hold them (per the node inventories), then the registry. */
export function nodeBlobSources(d: NodeBlobSourcesDeps): BlobSource {
  const registry = new RegistryBlobSource(d.registry);
  if (!d.peers) return new BlobSourceChain([registry]);
  const peers = new PeerBlobSource({
    directory: new StorePeerDirectory(d.nodes, d.pulls, d.nodeId),
    transport: new HttpsPeerTransport(d.tls),
    events: d.events,
    stallMs: d.peers.stallMs,
    minBytesPerSecond: d.peers.minBytesPerSecond ?? 0,
    maxPeers: d.peers.maxPeers,
  });
  return new BlobSourceChain([peers, registry]);
}
