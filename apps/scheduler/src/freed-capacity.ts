import type { Resources } from '@warmpod/domain';

export interface FreedCapacity {
  nodeId: string;
  allocated: Resources;
  usageRev: number;
}

/**
 * Reads a `capacity:freed` message: `nodeId cpuMilli memoryMiB gpu rev`, the
 * node's usage after the release (see RELEASE in @warmpod/store's lua.ts).
 * Undefined for anything else (e.g. a bare node id from an older writer).
 */
export function parseFreedCapacity(message: string): FreedCapacity | undefined {
  const parts = message.split(' ');
  if (parts.length !== 5) return undefined;
  const [nodeId, cpuMilli, memoryMiB, gpu, rev] = parts as [string, string, string, string, string];
  if (nodeId === '' || ![cpuMilli, memoryMiB, gpu, rev].every((v) => /^-?\d+$/.test(v))) return undefined;
  return { nodeId, allocated: { cpu: Number(cpuMilli) / 1000, memoryMiB: Number(memoryMiB), gpu: Number(gpu) }, usageRev: Number(rev) };
}
