import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { Redis } from 'ioredis';
import type { ProxiedRequest } from '@warmpod/devkit';
import { NodeRepository } from '@warmpod/store';

/** One agent's peer-blob counters, from its `/metrics`. */
export interface PeerCounters {
  fetched: number;
  fetchedBytes: number;
  wrong: number;
  unavailable: number;
  served: number;
  servedBytes: number;
}

const ZERO: PeerCounters = { fetched: 0, fetchedBytes: 0, wrong: 0, unavailable: 0, served: 0, servedBytes: 0 };

function value(text: string, name: string, outcome?: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && (outcome === undefined || l.includes(`outcome="${outcome}"`)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** GET over the agent's HTTPS (its certificate checked against the cluster CA; `/metrics` needs no client certificate). */
function get(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, checkServerIdentity: () => undefined }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every node's peer-blob counters now, read from its agent (the agent URL from the node record). */
export async function peerCounters(
  redis: Redis,
  prefix: string,
  caFile: string,
  nodes: readonly string[],
): Promise<Map<string, PeerCounters>> {
  const repo = new NodeRepository(redis, prefix);
  const ca = await readFile(caFile);
  const out = new Map<string, PeerCounters>();
  for (const id of nodes) {
    const record = await repo.get(id);
    const text = record ? await get(`${record.agentUrl.replace(/\/+$/, '')}/metrics`, ca).catch(() => '') : '';
    out.set(id, {
      fetched: value(text, 'warmpod_peer_blob_fetches_total', 'fetched'),
      fetchedBytes: value(text, 'warmpod_peer_blob_fetched_bytes_total'),
      wrong: value(text, 'warmpod_peer_blob_fetches_total', 'wrong'),
      unavailable: value(text, 'warmpod_peer_blob_fetches_total', 'unavailable'),
      served: value(text, 'warmpod_peer_blob_served_total', 'complete'),
      servedBytes: value(text, 'warmpod_peer_blob_served_bytes_total'),
    });
  }
  return out;
}

/** Counters between two readings. */
export function counterDelta(before: Map<string, PeerCounters>, after: Map<string, PeerCounters>): Map<string, PeerCounters> {
  const out = new Map<string, PeerCounters>();
  for (const [id, a] of after) {
    const b = before.get(id) ?? ZERO;
    out.set(id, {
      fetched: a.fetched - b.fetched,
      fetchedBytes: a.fetchedBytes - b.fetchedBytes,
      wrong: a.wrong - b.wrong,
      unavailable: a.unavailable - b.unavailable,
      served: a.served - b.served,
      servedBytes: a.servedBytes - b.servedBytes,
    });
  }
  return out;
}

/** Bytes of an image's blobs (config and layers): one copy, what a cold node must receive. */
export async function imageBlobBytes(registryHost: string, repository: string, digest: string): Promise<number> {
  const res = await fetch(`http://${registryHost}/v2/${repository}/manifests/${digest}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (!res.ok) throw new Error(`manifest ${repository}@${digest}: HTTP ${res.status}`);
  const m = (await res.json()) as { config: { size: number }; layers: Array<{ size: number }> };
  return m.layers.reduce((s, l) => s + l.size, m.config.size);
}

/** Part (b) per node: registry blob GETs and bytes (from the counting proxy), blobs and bytes from and to peers (agent metrics). */
export function wideRows(
  nodes: readonly string[],
  registryGets: readonly ProxiedRequest[],
  peers: Map<string, PeerCounters>,
): Array<[string, string, string]> {
  const MB = 1_000_000;
  return nodes.map((node) => {
    const mine = registryGets.filter((r) => r.client === node);
    const bytes = mine.reduce((s, r) => s + r.bytes, 0);
    const p = peers.get(node) ?? ZERO;
    const faults = p.wrong + p.unavailable > 0 ? `; ${p.wrong} wrong, ${p.unavailable} unavailable` : '';
    return [
      node,
      `${mine.length} GETs, ${(bytes / MB).toFixed(1)} MB`,
      `${p.fetched} blobs, ${(p.fetchedBytes / MB).toFixed(1)} MB from peers; served ${p.served}, ${(p.servedBytes / MB).toFixed(1)} MB${faults}`,
    ];
  });
}
