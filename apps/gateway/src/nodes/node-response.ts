import type { Resources } from '@warmpod/domain';
import { isReady, type NodeRecord } from '@warmpod/store';

export interface NodeResponse {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  allocated: Resources;
  free: Resources;
  health: 'Ready' | 'NotReady';
  cordoned: boolean;
  capabilities: Record<string, string | boolean>;
  cachedDigests: Array<{ digest: string; sizeBytes: number }>;
  /** Cached images with their layers (what placement counts as present bytes). */
  cachedImages: Array<{ digest: string; sizeBytes: number; layers: number }>;
  gpus: Array<{ model: string; count: number }>;
  checkpoints: Array<{ id: string; key: string; state: string; sizeBytes: number }>;
  runningPods: string[];
  heartbeatAt: string;
  /** Set when the node stopped heartbeating and its pods were declared Lost. */
  lostAt?: string;
}

const clamp = (n: number): number => Math.max(0, n);

/** A node as the API shows it: what it has, what is taken, what is left. */
export function toNodeResponse(node: NodeRecord, readyWindowMs: number, now = Date.now()): NodeResponse {
  return {
    id: node.id,
    labels: node.labels,
    capacity: node.capacity,
    allocated: node.allocated,
    free: {
      // Whole millicores, as reservations count them; avoids 0.30000000000000004.
      cpu: clamp(Math.round((node.capacity.cpu - node.allocated.cpu) * 1000) / 1000),
      memoryMiB: clamp(node.capacity.memoryMiB - node.allocated.memoryMiB),
      gpu: clamp(node.capacity.gpu - node.allocated.gpu),
    },
    health: !node.lostAt && isReady(node, readyWindowMs, now) ? 'Ready' : 'NotReady',
    cordoned: node.cordoned,
    // CPU flags are for checkpoint compatibility, not for reading: kept out of the listing.
    capabilities: Object.fromEntries(Object.entries(node.capabilities).filter(([k]) => k !== 'cpuFlags')),
    cachedDigests: node.cachedDigests,
    cachedImages: (node.cachedImages ?? []).map((i) => ({ digest: i.digest, sizeBytes: i.sizeBytes, layers: i.layers.length })),
    gpus: node.gpus ?? [],
    checkpoints: node.checkpoints ?? [],
    runningPods: node.runningPods ?? [],
    heartbeatAt: node.heartbeatAt,
    ...(node.lostAt ? { lostAt: node.lostAt } : {}),
  };
}
