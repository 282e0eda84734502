import type { NodeRecord, PinRecord, PullStatus } from '@warmpod/store';

/** Test builders for pins, nodes and pull states. */

export const REGISTRY = '127.0.0.1:5000';
export const digest = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;
export const pinned = (repo: string, d: string): string => `${REGISTRY}/${repo}@${d}`;

export function pinOf(id: string, d: string, over: Partial<PinRecord> = {}): PinRecord {
  return {
    id,
    tenant: 't1',
    requested: 'app:latest',
    reference: `${REGISTRY}/app:latest`,
    pinned: pinned('app', d),
    digest: d,
    nodeSelector: {},
    createdAt: new Date(1_000).toISOString(),
    state: 'active',
    ...over,
  };
}

export function nodeOf(id: string, over: Partial<NodeRecord> = {}, now = Date.now()): NodeRecord {
  return {
    id,
    labels: {},
    capacity: { cpu: 4, memoryMiB: 8192, gpu: 0 },
    agentUrl: 'http://127.0.0.1:1',
    capabilities: {},
    registeredAt: new Date(now).toISOString(),
    heartbeatAt: new Date(now).toISOString(),
    cordoned: false,
    allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
    cachedDigests: [],
    cachedImages: [],
    runningPods: [],
    checkpoints: [],
    ...over,
  };
}

export function holding(...digests: string[]): Pick<NodeRecord, 'cachedImages' | 'cachedDigests'> {
  return {
    cachedImages: digests.map((d) => ({ digest: d, sizeBytes: 1, layers: [] })),
    cachedDigests: digests.map((d) => ({ digest: d, sizeBytes: 1 })),
  };
}

export function pullOf(node: string, d: string, state: PullStatus['state'], over: Partial<PullStatus> = {}): PullStatus {
  return {
    node,
    digest: d,
    pinned: pinned('app', d),
    state,
    bytesDone: 0,
    bytesTotal: 0,
    layersDone: 0,
    layersTotal: 0,
    attempts: 0,
    updatedAt: new Date(0).toISOString(),
    ...over,
  };
}

/** Builds the digest -> node -> state lookup the plans read. */
export function lookup(...pulls: PullStatus[]): Map<string, Map<string, PullStatus>> {
  const out = new Map<string, Map<string, PullStatus>>();
  for (const p of pulls) {
    const byNode = out.get(p.digest) ?? new Map<string, PullStatus>();
    byNode.set(p.node, p);
    out.set(p.digest, byNode);
  }
  return out;
}
