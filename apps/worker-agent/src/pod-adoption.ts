import { isTerminal, type PodRecord } from '@warmpod/domain';

/**
 * What an agent does at start with each pod it finds on its node (runc,
 * shims, pod dirs, network namespaces, cgroups) or that the store places
 * here: plain decisions, no I/O. Model: the kubelet's pod lifecycle event
 * generator, which re-lists the runtime and adopts what belongs to it
 * instead of trusting or discarding its memory (STYLE.md item 16).
 */

/** What the node holds for one pod, as re-listed after an agent restart. */
export interface FoundPod {
  podId: string;
  /** runc's status (`running`, `paused`, `stopped`, `created`); undefined: runc does not know the container. */
  runcStatus?: string;
  /** The shim recorded the container's exit: it ended while no agent watched it. */
  exitCode?: number;
  /** The pod's address, from the node's IPAM state. */
  ip?: string;
}

export type Adoption =
  /** A Running pod here whose container runs: watch its exit again, open its ports on the same endpoints. */
  | { kind: 'adopt'; resume: boolean }
  /** A Running pod whose container ended while the agent was down: recorded as the exit watch would have. */
  | { kind: 'ended'; exitCode: number }
  /** A Running pod whose container is gone without a recorded exit (removed by hand, node rebooted). */
  | { kind: 'vanished' }
  /**
   * A start under way when the agent died (Scheduled to Restoring): its
   * start-pod job was active, so the queue delivers it again (a stalled job)
   * and that job starts the pod anew. What the interrupted attempt left goes
   * now: a container started but never exposed, a restore or a
   * start-then-checkpoint half done (its readiness wait and checkpoint are
   * not resumed: the new attempt starts normally, as a failed attempt does).
   */
  | { kind: 'restart-start' }
  /** Nobody owns it here: no record, ended, or placed on another node. */
  | { kind: 'remove'; reason: string; release: boolean };

export function decideAdoption(pod: PodRecord | undefined, found: FoundPod, nodeId: string): Adoption {
  const on = `not this node's (${nodeId})`;
  if (!pod) return { kind: 'remove', reason: `${on}: no pod record`, release: false };
  if (pod.node !== nodeId) return { kind: 'remove', reason: `${on}: pod is placed on ${pod.node ?? 'no node'}`, release: false };
  // Its reservation went with the end already; released again in case the end was recorded without it.
  if (isTerminal(pod.phase)) return { kind: 'remove', reason: `${on}: pod is ${pod.phase}`, release: true };
  if (pod.phase === 'Pending') return { kind: 'remove', reason: `${on}: pod is Pending`, release: false };
  if (pod.phase !== 'Running') return { kind: 'restart-start' };
  if (found.exitCode !== undefined) return { kind: 'ended', exitCode: found.exitCode };
  if (found.runcStatus === 'running' || found.runcStatus === 'paused') return { kind: 'adopt', resume: found.runcStatus === 'paused' };
  return { kind: 'vanished' };
}

/** Whether a found container may still record its exit: runc saw it end, the shim may not have written it yet. */
export function exitMayFollow(found: FoundPod): boolean {
  return found.exitCode === undefined && (found.runcStatus === 'stopped' || found.runcStatus === 'created');
}
