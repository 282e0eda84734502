import { createServer as createTlsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ImageCache } from '@warmpod/node-runtime';
import { ClusterTls, ServiceMetrics, type Logger } from '@warmpod/observability';
import { RegistryClient } from '@warmpod/registry';
import type { NodeRepository, NodeSessions, PullRepository } from '@warmpod/store';
import type { ClusterPki } from '@warmpod/devkit';
import { AgentHttp } from '../agent-http';
import { UploadSlots } from '../blob-peers/blob-server';
import { nodeBlobSources } from '../blob-peers/blob-sources';
import { PeerBlobMetrics } from '../blob-peers/peer-metrics';

export interface PeerTestNode {
  id: string;
  cache: ImageCache;
  http: AgentHttp;
  url: string;
  tls: ClusterTls;
  metrics: ServiceMetrics;
  /** The cap on this node's uploads to peers (NODE_PEER_SERVE_CONCURRENCY). */
  slots: UploadSlots;
  /** A counter of `warmpod_peer_blob_fetches_total` (outcome) or `warmpod_peer_blob_served_total`. */
  count(metric: string, outcome: string): Promise<number>;
  close(): Promise<void>;
}

export interface PeerTestCluster {
  dir: string;
  pki: ClusterPki;
  sessions: NodeSessions;
  nodes: NodeRepository;
  pulls: PullRepository;
  logger: Logger;
}

/**
 * One node as the agent wires it for peer blobs: its image cache taking
 * blobs from peers then the registry, and its HTTPS API serving its blobs
 * to other nodes, registered in the store with its agent URL.
 */
export async function peerTestNode(c: PeerTestCluster, id: string, stallMs = 5_000, serveConcurrency = 4): Promise<PeerTestNode> {
  const tls = await ClusterTls.load(await c.pki.issue(`node:${id}`), { reloadMs: 3_600_000, logger: c.logger });
  const metrics = new ServiceMetrics('worker-agent');
  const events = new PeerBlobMetrics(metrics, c.logger);
  const registry = new RegistryClient({ insecureRegistries: [], timeoutMs: 10_000 });
  const blobSource = nodeBlobSources({
    nodeId: id,
    registry,
    peers: { stallMs, maxPeers: 2 },
    tls,
    nodes: c.nodes,
    pulls: c.pulls,
    events,
  });
  const cache = new ImageCache({ dataDir: join(c.dir, 'nodes', id), registry, logger: c.logger, blobSource });
  const slots = new UploadSlots(serveConcurrency);
  const http = new AgentHttp(() => join(c.dir, 'no-logs'), {}, undefined, metrics, tls, {
    held: (digest) => cache.heldBlob(digest),
    served: (bytes, outcome) => events.served(bytes, outcome),
    slots,
  });
  const url = await http.listen('127.0.0.1', 0);
  await register(c, id, url);
  const count = async (metric: string, outcome: string): Promise<number> => {
    const text = await metrics.registry.getSingleMetricAsString(metric);
    const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`outcome="${outcome}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return {
    id,
    cache,
    http,
    url,
    tls,
    metrics,
    slots,
    count,
    close: async () => {
      await http.close();
      tls.close();
    },
  };
}

export async function register(c: Pick<PeerTestCluster, 'sessions'>, id: string, agentUrl: string): Promise<void> {
  await c.sessions.register({ id, labels: {}, capacity: { cpu: 1, memoryMiB: 1024, gpu: 0 }, agentUrl, capabilities: {} }, `s-${id}`);
}

/** Puts a pulled image in the node's store inventory, as the agent's puller does. */
export async function announce(c: Pick<PeerTestCluster, 'nodes'>, node: PeerTestNode, digest: string): Promise<void> {
  const entry = (await node.cache.list()).find((e) => e.digest === digest);
  if (!entry) throw new Error(`${node.id} does not hold ${digest}`);
  await c.nodes.addCachedDigest(node.id, digest, entry.sizeBytes, entry.layers);
}

/** A node that accepts TLS connections (with a real node certificate) and never answers: a stalled peer. */
export async function stalledPeer(c: PeerTestCluster, id: string): Promise<{ url: string; close(): Promise<void> }> {
  const cert = await ClusterTls.load(await c.pki.issue(`node:${id}`), { reloadMs: 3_600_000, logger: c.logger });
  const server: Server = createTlsServer({ ...cert.current, requestCert: true, rejectUnauthorized: false }, () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await register(c, id, url);
  return {
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      cert.close();
    },
  };
}
