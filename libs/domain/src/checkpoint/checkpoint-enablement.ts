import type { Resources } from '../pod-spec';
import type { CheckpointSpec } from './checkpoint-spec';

/** The placement capability of a node whose `criu check` passed: needed to checkpoint or restore there. */
export const CRIU_CAPABILITY = 'criu-restore';

/** CRIU cannot checkpoint a process that drives more than one GPU. */
export const CHECKPOINT_MAX_GPUS = 1;

/** What the cluster says about checkpointing, measured before dispatch. */
export interface CheckpointClusterFacts {
  /**
   * Nodes that passed `criu check` and that this pod could run on (its hard
   * filters: selector, capacity, health). 0 means no restore or checkpoint can happen.
   */
  criuCapableNodes: number;
  /** Operator or tenant policy; absent means allowed. */
  policy?: { allowed: boolean; reason?: string };
}

export type CheckpointOffCode = 'not-requested' | 'policy' | 'multi-gpu' | 'no-criu-node';

/** The one value the agent obeys; nothing downstream re-derives it. */
export type EffectiveCheckpointing = { enabled: true } | { enabled: false; code: CheckpointOffCode; reason: string };

/**
 * Decides once, before dispatch, whether a pod is checkpointed, and says why
 * not when it is off. Checks run from the user's choice outwards: not asked
 * for, then policy, then what the pod needs, then what the cluster has.
 */
export function effectiveCheckpointing(
  spec: CheckpointSpec | undefined,
  resources: Pick<Resources, 'gpu'>,
  facts: CheckpointClusterFacts,
): EffectiveCheckpointing {
  if (!spec?.enabled) return { enabled: false, code: 'not-requested', reason: 'checkpointing was not requested' };
  if (facts.policy && !facts.policy.allowed) {
    return {
      enabled: false,
      code: 'policy',
      reason: `checkpointing is off by policy${facts.policy.reason ? `: ${facts.policy.reason}` : ''}`,
    };
  }
  if (resources.gpu > CHECKPOINT_MAX_GPUS) {
    return {
      enabled: false,
      code: 'multi-gpu',
      reason: `the pod asks for ${resources.gpu} GPUs; checkpointing supports at most ${CHECKPOINT_MAX_GPUS}`,
    };
  }
  if (facts.criuCapableNodes < 1) {
    return { enabled: false, code: 'no-criu-node', reason: 'no node that fits the pod has a working CRIU' };
  }
  return { enabled: true };
}
