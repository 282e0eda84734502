import type { Resources } from '../pod-spec';

/** One layer of an image, content-addressed. */
export interface ImageLayer {
  digest: string;
  sizeBytes: number;
}

/** An image in a node's cache, addressed by its manifest digest. */
export interface CachedImage {
  digest: string;
  sizeBytes: number;
  layers: readonly ImageLayer[];
}

/** What the placement index knows about a node, as the node registry reports it. */
export interface PlacementNode {
  id: string;
  ready: boolean;
  cordoned: boolean;
  labels: Readonly<Record<string, string>>;
  capacity: Resources;
  /** Reservations confirmed in the store (the scheduler's own in-flight ones are `reserveLocally`). */
  allocated: Resources;
  images: readonly CachedImage[];
  checkpointKeys: readonly string[];
  /** `runtimeKey` of the node's checkpoint runtime (CRIU works there); what a pushed checkpoint must match to be fetched. */
  runtimeKey?: string;
  /** Named capabilities a pod can require, e.g. `criu-restore`. */
  capabilities?: readonly string[];
}

/** A pod waiting for a node: pinned digest, its layers, what it needs. */
export interface PodPlacementRequest {
  digest: string;
  /** The image's layers; without them the bytes-to-fetch rank cannot tell nodes apart. */
  layers: readonly ImageLayer[];
  resources: Resources;
  nodeSelector: Readonly<Record<string, string>>;
  /** Key of a checkpoint this pod could restore from. */
  checkpointKey?: string;
  /** Compatible checkpoints pushed to the registry: the runtime each was taken under and its size (nodes of that runtime may fetch it). */
  fetchableCheckpoints?: ReadonlyArray<{ runtime: string; sizeBytes: number }>;
  requireCapability?: string;
}

/**
 * `warmpod`: rule 2 (checkpoint, digest, fewest bytes, least allocated).
 * `imageLocality`: kube-scheduler's default scoring for comparison.
 * `randomFit`: a uniformly random feasible node.
 */
export type PlacementStrategy = 'warmpod' | 'imageLocality' | 'randomFit';

export interface PlanOptions {
  /** How many candidates to return, best first (default 8). */
  limit?: number;
  strategy?: PlacementStrategy;
}

export interface PlacementCandidate {
  node: string;
  /**
   * Higher is better, comparable within one plan. For `warmpod` the tiers are
   * packed so that the number orders exactly like the rule: checkpoint, then
   * digest, then bytes to fetch (KiB), then free share after placement.
   */
  score: number;
  /** A short sentence for the pod record. */
  why: string;
  /** Bytes of the image's layers not yet on the node (0 when the digest is cached). */
  bytesToFetch: number;
  /** Bytes of a checkpoint the node would fetch from the registry to restore. */
  checkpointBytesToFetch?: number;
}

export const REJECTION_REASONS = [
  'not ready',
  'cordoned',
  'node selector mismatch',
  'missing capability',
  'insufficient cpu',
  'insufficient memory',
  'insufficient gpu',
] as const;

export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface PlacementRanking {
  /** The best `limit` feasible nodes, best first. A reservation may still lose a race on any of them. */
  candidates: PlacementCandidate[];
  /** Nodes that passed every filter. */
  feasible: number;
  /** Nodes filtered out, by the first filter each failed. */
  rejections: Record<RejectionReason, number>;
  /** What a missing-capability rejection was about, for the summary. */
  requiredCapability?: string;
}
