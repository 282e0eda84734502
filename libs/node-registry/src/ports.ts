import type { PodPhase, Resources } from '@warmpod/domain';

/**
 * What the registry server needs from the state store. `NodeSessions`
 * (@warmpod/store) implements it; the scheduler passes it in.
 */

export interface RegistryLayer {
  digest: string;
  sizeBytes: number;
}

export interface RegistryImage {
  digest: string;
  sizeBytes: number;
  layers: RegistryLayer[];
}

export interface RegistryCheckpoint {
  id: string;
  key: string;
  state: string;
  sizeBytes: number;
}

export interface RegisteredNode {
  id: string;
  labels: Record<string, string>;
  capacity: Resources;
  agentUrl: string;
  /** runtime, runcVersion, criuVersion, criuOk, criuReason, criuMode, criuNetworkLock, kernel, arch, cpuFlags (space-separated). */
  capabilities: Record<string, string | boolean>;
  gpus: Array<{ model: string; count: number }>;
}

export interface RegistryInventory {
  images: RegistryImage[];
  runningPods: string[];
  checkpoints: RegistryCheckpoint[];
  usage?: Resources;
}

export interface RegistryInventoryDelta {
  addedImages: RegistryImage[];
  removedImages: string[];
  runningPods: string[];
  checkpoints: RegistryCheckpoint[];
  usage?: Resources;
}

/** `applied`, or why a report within a session was refused. */
export type RegistryWrite = 'applied' | 'unknown-node' | 'stale-session' | 'node-lost';

export interface NodeRegistryStore {
  /** Stores the node under a new session (which replaces any previous one) and clears a lost mark. */
  register(node: RegisteredNode, sessionId: string): Promise<void>;
  applyInventory(nodeId: string, sessionId: string, inventory: RegistryInventory): Promise<RegistryWrite>;
  applyDelta(nodeId: string, sessionId: string, delta: RegistryInventoryDelta): Promise<RegistryWrite>;
  touch(nodeId: string, sessionId: string): Promise<RegistryWrite>;
  /** Removes the node (its agent leaves); `pods-remain` while pods still hold reservations there. */
  deregister(nodeId: string, sessionId: string): Promise<RegistryDeregistration>;
}

export type RegistryDeregistration = 'removed' | 'unknown-node' | 'stale-session' | 'node-lost' | 'pods-remain';

/** Where the scheduler expects a pod: its record's phase and node. `PodRepository` implements it. */
export interface PodPlacementLookup {
  get(podId: string): Promise<{ phase: PodPhase; node?: string } | undefined>;
}
