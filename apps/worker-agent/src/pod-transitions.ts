import type { PodPhase, PodRecord } from '@warmpod/domain';
import { PermanentJobError } from '@warmpod/jobs';
import type { NodeReservations, PodRepository } from '@warmpod/store';

export type EndPhase = 'Succeeded' | 'Failed' | 'Stopped' | 'Lost';

export interface PodTransitionsDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'transition'>;
  reservations: Pick<NodeReservations, 'release'>;
  /** Something the node reports changed (a container gone). */
  reportChange: () => void;
}

/** This node's phase changes on its pods: forward steps of a start, and the end of a pod here. */
export class PodTransitions {
  constructor(private readonly deps: PodTransitionsDeps) {}

  /** Moves forward, tolerating a retry that finds the pod already there. */
  async advance(podId: string, to: PodPhase): Promise<void> {
    const moved = await this.deps.pods.transition(podId, to);
    if (!moved.applied && moved.previous !== to) {
      throw new PermanentJobError(`pod ${podId} cannot move from ${moved.previous ?? 'deleted'} to ${to}`);
    }
  }

  /** A terminal phase; the reservation goes in the same step. */
  async finish(pod: PodRecord, phase: EndPhase, patch: { exitCode?: number; error?: string }): Promise<void> {
    const { nodeId, pods, reservations, reportChange } = this.deps;
    await pods.transition(pod.id, phase, { ...patch, endpoints: null }, nodeId);
    // Released again on its own in case the pod record was already terminal.
    await reservations.release(nodeId, pod.id);
    reportChange();
  }
}
