import { isProtectedTarget, isReadyOn, pullTargets, type PinRecord, type PrepullNode } from '@warmpod/store';
import { pullOf, type PullLookup } from './desired-state';

/** Where a superseded pin stands. */
export interface RotationVerdict {
  pin: PinRecord;
  /** The active pin at the end of the `supersededBy` chain; absent when the reference was unpinned. */
  successor?: PinRecord;
  /** Nodes where the old digest must stay (successor not ready there yet, or a pod still uses it). */
  keepOn: string[];
  /** True once the old digest is needed nowhere: the pin can be dropped. */
  done: boolean;
}

export interface RotationInputs {
  superseded: readonly PinRecord[];
  active: readonly PinRecord[];
  nodes: readonly PrepullNode[];
  pulls: PullLookup;
  /** Node id -> digests its pods use (reserved or running). */
  inUse: ReadonlyMap<string, ReadonlySet<string>>;
  readyWindowMs: number;
  now: number;
}

/**
 * Convergent rotation. A superseded digest stays on a node until the
 * successor's digest is ready there (when the successor targets the node)
 * and no pod on the node uses the old digest. The superseded pin is done
 * when that holds on every node the successor can pull onto now, and no
 * pod on any node the old or new pin covers still uses the old digest.
 * A node that is not Ready does not hold rotation up: it gets the new
 * digest when it comes back. Without a successor (the reference was
 * unpinned) there is nothing to rotate to, and the pin is done at once.
 */
export function rotation(input: RotationInputs): RotationVerdict[] {
  const byId = new Map([...input.active, ...input.superseded].map((p) => [p.id, p]));
  return input.superseded.map((pin) => verdict(pin, successorOf(pin, byId), input));
}

/** The active pin at the end of a pin's `supersededBy` chain, if the reference is still pinned. */
export function successorOf(pin: PinRecord, byId: ReadonlyMap<string, PinRecord>): PinRecord | undefined {
  let next = pin.supersededBy ? byId.get(pin.supersededBy) : undefined;
  for (let hops = 0; next && next.state !== 'active' && hops < 64; hops++) {
    next = next.supersededBy ? byId.get(next.supersededBy) : undefined;
  }
  return next?.state === 'active' ? next : undefined;
}

function verdict(pin: PinRecord, successor: PinRecord | undefined, input: RotationInputs): RotationVerdict {
  if (!successor) return { pin, keepOn: [], done: true };
  const targets = new Set(pullTargets(successor, input.nodes, input.readyWindowMs, input.now).map((n) => n.id));
  const used = (id: string): boolean => input.inUse.get(id)?.has(pin.digest) ?? false;
  const newReady = (node: PrepullNode): boolean => isReadyOn(node, successor.digest, pullOf(input.pulls, node.id, successor.digest));
  const covered = input.nodes.filter((n) => targets.has(n.id) || isProtectedTarget(n, pin) || isProtectedTarget(n, successor));
  const keepOn: string[] = [];
  let done = true;
  for (const node of covered) {
    const waitsForNew = targets.has(node.id) && !newReady(node);
    const rotated = !waitsForNew && !used(node.id);
    if (!rotated) done = false;
    if (!rotated && isProtectedTarget(node, pin)) keepOn.push(node.id);
  }
  return { pin, successor, keepOn: keepOn.sort(), done };
}
