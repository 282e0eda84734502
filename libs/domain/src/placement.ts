import type { Resources } from './pod-spec';

/** What placement needs to know about a node; built from the node registry. */
export interface NodeView {
  id: string;
  ready: boolean;
  cordoned: boolean;
  labels: Record<string, string>;
  capacity: Resources;
  /** Sum of reservations on the node. */
  allocated: Resources;
  cachedDigests: ReadonlySet<string>;
}

export interface PlacementRequest {
  digest: string;
  resources: Resources;
  nodeSelector: Record<string, string>;
}

export interface Candidate {
  node: string;
  score: number;
  why: string;
}

export interface PlacementPlan {
  /** Feasible nodes, best first. Reservation may still lose a race on any of them. */
  candidates: Candidate[];
  /** Why each other node was filtered out. */
  rejected: Array<{ node: string; why: string }>;
}

const EPSILON = 1e-9;

function fits(node: NodeView, want: Resources): string | undefined {
  const free = {
    cpu: node.capacity.cpu - node.allocated.cpu,
    memoryMiB: node.capacity.memoryMiB - node.allocated.memoryMiB,
    gpu: node.capacity.gpu - node.allocated.gpu,
  };
  if (want.cpu > free.cpu + EPSILON) return `insufficient cpu (${round(free.cpu)} free, ${want.cpu} wanted)`;
  if (want.memoryMiB > free.memoryMiB) return `insufficient memory (${free.memoryMiB} MiB free, ${want.memoryMiB} wanted)`;
  if (want.gpu > free.gpu) return `insufficient gpu (${free.gpu} free, ${want.gpu} wanted)`;
  return undefined;
}

function selectorMismatch(node: NodeView, selector: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(selector)) {
    if (node.labels[key] !== value) return `nodeSelector ${key}=${value} does not match`;
  }
  return undefined;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Share of the node left free after placing the pod, averaged over cpu and memory. */
function freeShareAfter(node: NodeView, want: Resources): number {
  const cpu = (node.capacity.cpu - node.allocated.cpu - want.cpu) / Math.max(node.capacity.cpu, EPSILON);
  const mem = (node.capacity.memoryMiB - node.allocated.memoryMiB - want.memoryMiB) / Math.max(node.capacity.memoryMiB, 1);
  return (cpu + mem) / 2;
}

/** Weight of a cache hit: larger than any spread score, so warmth always wins. */
export const DIGEST_CACHED_WEIGHT = 1000;

/**
 * Filters nodes on hard constraints, then ranks them: the pinned digest in
 * cache first, then the least allocated. Ties break on node id so that the
 * plan is deterministic.
 */
export function planPlacement(nodes: readonly NodeView[], req: PlacementRequest): PlacementPlan {
  const candidates: Candidate[] = [];
  const rejected: PlacementPlan['rejected'] = [];
  for (const node of nodes) {
    const why = !node.ready
      ? 'node not ready'
      : node.cordoned
        ? 'node cordoned'
        : (selectorMismatch(node, req.nodeSelector) ?? fits(node, req.resources));
    if (why) {
      rejected.push({ node: node.id, why });
      continue;
    }
    const cached = node.cachedDigests.has(req.digest);
    const spread = freeShareAfter(node, req.resources);
    candidates.push({
      node: node.id,
      score: (cached ? DIGEST_CACHED_WEIGHT : 0) + spread * 100,
      why: cached ? 'pinned digest already in node cache' : 'least allocated node (digest not cached on any candidate)',
    });
  }
  candidates.sort((a, b) => b.score - a.score || a.node.localeCompare(b.node));
  const anyCached = candidates.some((c) => c.score >= DIGEST_CACHED_WEIGHT);
  if (anyCached) {
    for (const c of candidates) if (c.score < DIGEST_CACHED_WEIGHT) c.why = 'least allocated node without the digest';
  }
  return { candidates, rejected };
}

export function summariseRejections(plan: PlacementPlan): string {
  if (plan.rejected.length === 0) return 'no nodes registered';
  return plan.rejected.map((r) => `${r.node}: ${r.why}`).join('; ');
}
