import { z } from 'zod';
import type { Resources } from '@warmpod/domain';

/**
 * What a message on `nodes:changed` says changed, one kind per write that
 * announces it: a (re)registration (registerNode.lua), an agent's inventory
 * report or an image it added (applyInventory, applyDelta, addCachedImage),
 * a cordon flag (setCordoned), a drain started (drainNode), a declared loss
 * (markNodeLost), a removal (deregisterNode, when an agent leaves). Heartbeats and
 * capacity are not: capacity has its own channels, which carry the usage.
 */
export const NODE_CHANGE_KINDS = ['registered', 'inventory', 'cordon', 'draining', 'lost', 'deregistered'] as const;
export type NodeChangeKind = (typeof NODE_CHANGE_KINDS)[number];

export interface NodeChange {
  nodeId: string;
  what: NodeChangeKind;
}

const nodeChange = z.object({ nodeId: z.string().min(1), what: z.enum(NODE_CHANGE_KINDS) }).strict();

/**
 * The one place a `nodes:changed` message is written: the repositories pass
 * it to the Lua script that makes the change, which publishes it verbatim.
 */
export function nodeChangeMessage(nodeId: string, what: NodeChangeKind): string {
  return JSON.stringify({ nodeId, what });
}

/** Reads a `nodes:changed` message; undefined for anything `nodeChangeMessage` did not write. */
export function parseNodeChange(message: string): NodeChange | undefined {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return undefined;
  }
  const parsed = nodeChange.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** A node's reserved totals after a reservation or release, as `capacity:reserved` and `capacity:freed` carry them. */
export interface CapacityUsage {
  nodeId: string;
  allocated: Resources;
  usageRev: number;
}

/**
 * Reads a `capacity:freed` or `capacity:reserved` message: `nodeId cpuMilli
 * memoryMiB gpu rev`, the node's usage after the change (written by
 * reserveCapacity.lua and the releaseReservation include). Undefined for
 * anything else.
 */
export function parseCapacityUsage(message: string): CapacityUsage | undefined {
  const parts = message.split(' ');
  if (parts.length !== 5) return undefined;
  const [nodeId = '', cpuMilli = '', memoryMiB = '', gpu = '', rev = ''] = parts;
  if (nodeId === '' || ![cpuMilli, memoryMiB, gpu, rev].every((v) => /^-?\d+$/.test(v))) return undefined;
  return { nodeId, allocated: { cpu: Number(cpuMilli) / 1000, memoryMiB: Number(memoryMiB), gpu: Number(gpu) }, usageRev: Number(rev) };
}

/** A pull claimed, finished or abandoned, or all its blobs fetched (`pulls:changed`, message `node digest`). */
export interface PullChange {
  nodeId: string;
  digest: string;
}

export function parsePullChange(message: string): PullChange | undefined {
  const parts = message.split(' ');
  if (parts.length !== 2 || parts.some((p) => p === '')) return undefined;
  const [nodeId = '', digest = ''] = parts;
  return { nodeId, digest };
}
