import type { PodRecord } from '@warmpod/domain';
import type { WaitFor } from '@warmpod/client';

export type PodOutcome = { kind: 'wait' } | { kind: 'done' } | { kind: 'fail'; code: string; message: string };

/**
 * Where a run-pod job stands given its pod: still waiting, done (the pod
 * reached `waitFor`), or failed with a reason. A pod that ran and already
 * ended successfully counts as having been Running. A Lost pod that its
 * restart policy places again is still on its way; one that stays Lost fails.
 */
export function podOutcome(pod: PodRecord, waitFor: WaitFor): PodOutcome {
  switch (pod.phase) {
    case 'Running':
      return waitFor === 'Running' ? { kind: 'done' } : { kind: 'wait' };
    case 'Succeeded':
      return { kind: 'done' };
    case 'Failed':
      return {
        kind: 'fail',
        code: 'pod_failed',
        message: `pod ${pod.id} failed${pod.exitCode !== undefined ? ` with exit code ${pod.exitCode}` : ''}${pod.error ? `: ${pod.error}` : ''}`,
      };
    case 'Stopped':
      return { kind: 'fail', code: 'pod_stopped', message: `pod ${pod.id} was stopped${pod.message ? `: ${pod.message}` : ''}` };
    case 'Lost':
      if (pod.spec.restartPolicy !== 'Never') return { kind: 'wait' };
      return { kind: 'fail', code: 'pod_lost', message: `pod ${pod.id} was lost with its node ${pod.node ?? ''}`.trim() };
    default:
      return { kind: 'wait' };
  }
}
