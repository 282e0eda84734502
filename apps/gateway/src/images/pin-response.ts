import type { NodePrepullState, PinPrepullStatus, PinRecord } from '@warmpod/store';

/** A pin as the API shows it: the pinned digest, and where it stands on each node it targets. */
export interface PinResponse extends PinRecord {
  /** One entry per targeted node: queued, pulling (bytes and layers), ready, or failed (reason, attempts). */
  nodes: NodePrepullState[];
  /** How many of `nodes` are ready. */
  ready: number;
}

export function toPinResponse(status: PinPrepullStatus): PinResponse {
  return { ...status.pin, nodes: status.nodes, ready: status.ready };
}
