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
  heartbeatAt: string;
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
    health: isReady(node, readyWindowMs, now) ? 'Ready' : 'NotReady',
    cordoned: node.cordoned,
    capabilities: node.capabilities,
    cachedDigests: node.cachedDigests,
    heartbeatAt: node.heartbeatAt,
  };
}
