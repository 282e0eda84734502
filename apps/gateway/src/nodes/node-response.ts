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
  /** Leaving the cluster: no new pods; the node is gone once its agent has moved or stopped its pods and deregistered. */
  draining: boolean;
  capabilities: Record<string, string | boolean>;
  cachedDigests: Array<{ digest: string; sizeBytes: number }>;
  /** Cached images with their layers (what placement counts as present bytes). */
  cachedImages: Array<{ digest: string; sizeBytes: number; layers: number }>;
  gpus: Array<{ model: string; count: number }>;
  /** The caller's own checkpoints on the node (every tenant's for an operator). */
  checkpoints: Array<{ id: string; key: string; state: string; sizeBytes: number }>;
  /** The caller's own pods running there (every tenant's for an operator). */
  runningPods: string[];
  /** How many pods and checkpoints of other tenants the node holds that this caller does not see (0 for operators). */
  hidden: { runningPods: number; checkpoints: number };
  heartbeatAt: string;
  /** Set when the node stopped heartbeating and its pods were declared Lost. */
  lostAt?: string;
  /** When the node started draining. */
  drainingAt?: string;
}

const clamp = (n: number): number => Math.max(0, n);

/** Which of a node's pods and checkpoints the caller may see; everything when absent (operators). */
export interface NodeVisibility {
  pod(id: string): boolean;
  checkpoint(id: string): boolean;
}

/** A node as the API shows it: what it has, what is taken, what is left. */
export function toNodeResponse(node: NodeRecord, readyWindowMs: number, now = Date.now(), visible?: NodeVisibility): NodeResponse {
  const allPods = node.runningPods ?? [];
  const allCheckpoints = node.checkpoints ?? [];
  const runningPods = visible ? allPods.filter((id) => visible.pod(id)) : allPods;
  const checkpoints = visible ? allCheckpoints.filter((c) => visible.checkpoint(c.id)) : allCheckpoints;
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
    draining: node.drainingAt !== undefined,
    // CPU flags are for checkpoint compatibility, not for reading: kept out of the listing.
    capabilities: Object.fromEntries(Object.entries(node.capabilities).filter(([k]) => k !== 'cpuFlags')),
    cachedDigests: node.cachedDigests,
    cachedImages: (node.cachedImages ?? []).map((i) => ({ digest: i.digest, sizeBytes: i.sizeBytes, layers: i.layers.length })),
    gpus: node.gpus ?? [],
    checkpoints,
    runningPods,
    hidden: { runningPods: allPods.length - runningPods.length, checkpoints: allCheckpoints.length - checkpoints.length },
    heartbeatAt: node.heartbeatAt,
    ...(node.lostAt ? { lostAt: node.lostAt } : {}),
    ...(node.drainingAt ? { drainingAt: node.drainingAt } : {}),
  };
}
