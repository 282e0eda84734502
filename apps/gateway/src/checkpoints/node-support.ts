import { z } from 'zod';
import type { RuntimeFingerprint } from '@warmpod/domain';
import type { NodeRecord } from '@warmpod/store';

/** Whether a node can take a checkpoint now, with the runtime fingerprint its key is built from. */
export type NodeCheckpointSupport = { ok: true; runtime: RuntimeFingerprint } | { ok: false; reason: string };

const field = z.string().trim().min(1);

/**
 * The capabilities as the registry stores them (flattened to strings and
 * booleans, CPU flags space-separated). Checked here because a key built from
 * a missing field would match nothing the agent computes.
 */
const capabilitiesSchema = z.object({
  arch: field,
  kernel: field,
  criuVersion: field,
  criuMode: field,
  runcVersion: field,
  cpuFlags: z.string(),
  // Agents from before it was measured do not send it: they lock with iptables, CRIU's default.
  criuNetworkLock: z.string().optional(),
});

/** Reads a node's checkpoint support from what its agent measured at registration (`criu check`). */
export function checkpointSupportOf(node: Pick<NodeRecord, 'id' | 'capabilities' | 'lostAt'>): NodeCheckpointSupport {
  if (node.lostAt) return { ok: false, reason: `node ${node.id} was lost at ${node.lostAt}` };
  const caps = node.capabilities;
  if (caps['criuOk'] !== true) {
    const why =
      typeof caps['criuReason'] === 'string' && caps['criuReason'] !== '' ? caps['criuReason'] : 'it did not report a working CRIU';
    return { ok: false, reason: `node ${node.id} cannot checkpoint: ${why}` };
  }
  const parsed = capabilitiesSchema.safeParse(caps);
  if (!parsed.success) {
    const missing = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))].join(', ');
    return { ok: false, reason: `node ${node.id} did not report its runtime fingerprint (${missing})` };
  }
  const { arch, kernel, criuVersion, criuMode, runcVersion, cpuFlags, criuNetworkLock } = parsed.data;
  const flags = cpuFlags.split(/\s+/).filter((f) => f !== '');
  const lock = criuNetworkLock ? { criuNetworkLock } : {};
  return { ok: true, runtime: { arch, kernel, criuVersion, criuMode, runcVersion, cpuFlags: flags, ...lock } };
}
