import type { EffectiveCheckpointing } from './checkpoint/checkpoint-enablement';
import type { PinnedImage } from './image-reference';
import type { PodPhase } from './pod-phase';
import type { PodSpec } from './pod-spec';

/** `warm-pool`: handed out already Running from a warm pool. */
export type StartMode = 'cold' | 'warm-cache' | 'restored' | 'fallback' | 'warm-pool';

export interface Endpoint {
  containerPort: number;
  /** host:port where the port is reachable from the node's host. */
  address: string;
}

export interface Placement {
  node: string;
  why: string;
  /** How many nodes could take the pod. */
  candidates: number;
  /** Bytes of the image the chosen node still had to fetch. */
  bytesToFetch?: number;
}

/** A pod as the API shows it. */
export interface PodRecord {
  id: string;
  tenant: string;
  createdAt: string;
  labels: Record<string, string>;
  image: Pick<PinnedImage, 'requested' | 'pinned' | 'digest'>;
  spec: PodSpec;
  phase: PodPhase;
  node?: string;
  placement?: Placement;
  startMode?: StartMode;
  /** Why a pod is still Pending, or what the last step said. */
  message?: string;
  /** When each phase began, and `Ready`: when the pod's readiness held (its ports were exposed then). */
  timeline: Partial<Record<PodPhase | 'Ready', string>>;
  /** When the pod became ready (its readiness held; at once without one). */
  ready?: string;
  endpoints: Endpoint[];
  exitCode?: number;
  error?: string;
  /** How many times the pod was placed again after losing its node. */
  restarts: number;
  /** The warm pool this pod was started for (warm, or from its template when no warm pod was free). */
  pool?: string;
  /** Decided once, at placement, before the start is dispatched; the agent obeys it. */
  checkpointing?: EffectiveCheckpointing;
  /** What happened with checkpoints on this pod's start. */
  checkpoint?: PodCheckpointStatus;
}

export interface PodCheckpointStatus {
  /** The checkpoint this pod was restored from, or tried to restore from. */
  restoredFrom?: string;
  /** A checkpoint taken of this pod (after its condition held, or on demand). */
  taken?: string;
  /** Why the restore or the checkpoint failed; the pod runs regardless. */
  error?: string;
}
