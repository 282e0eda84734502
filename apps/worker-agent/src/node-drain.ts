import { isTerminal, type PodRecord } from '@warmpod/domain';

/**
 * What a draining node does with one pod it holds a reservation for (pure;
 * `NodeDrainer` carries it out):
 * - `move`: a live pod here that may be restarted (OnFailure, Always) is
 *   stopped here and placed again elsewhere (as after a node loss: Lost,
 *   then Pending with `restarts` + 1);
 * - `stop`: a live pod here that may not (Never) ends Stopped with the reason;
 * - `wait`: a Pending pod reserved here is being placed here right now by a
 *   scheduler replica (reserve, then Scheduled); the next pass finds it here;
 * - `release`: anything else (no record, ended, placed elsewhere) only
 *   gives its reservation back.
 */
export type Evacuation = 'move' | 'stop' | 'wait' | 'release';

export function decideEvacuation(pod: PodRecord | undefined, nodeId: string): Evacuation {
  if (!pod || isTerminal(pod.phase)) return 'release';
  if (pod.node !== nodeId) return pod.phase === 'Pending' ? 'wait' : 'release';
  return pod.spec.restartPolicy === 'Never' ? 'stop' : 'move';
}

/**
 * What a draining node aborts a start under way with: unlike a user's stop,
 * the start then leaves the pod as it is, for the drainer to move or stop by
 * its restart policy.
 */
export class DrainAbort extends Error {
  override readonly name = 'DrainAbort';
}

/** Why a pod left a drained node, as its record shows it. */
export const drainedReason = (nodeId: string): string => `node ${nodeId} was drained`;
