import type { Redis } from 'ioredis';
import { NodeRepository } from './node-repository';
import { PinRepository, type PinRecord } from './pin-repository';
import { PullRepository, type PullStatus } from './pull-repository';
import { canPullOn, inventoryHolds, isProtectedTarget, type PrepullNode } from './prepull-targets';

/** Where a pinned digest stands on one node. */
export type NodePrepullState =
  | { node: string; state: 'queued'; since?: string }
  | { node: string; state: 'pulling'; bytesDone: number; bytesTotal: number; layersDone: number; layersTotal: number; updatedAt: string }
  | { node: string; state: 'ready'; updatedAt?: string }
  | { node: string; state: 'failed'; reason: string; attempts: number; updatedAt: string };

export interface PinPrepullStatus {
  pin: PinRecord;
  /** One entry per targeted node, sorted by node id. */
  nodes: NodePrepullState[];
  /** How many of `nodes` are ready. */
  ready: number;
}

/**
 * The state of one digest on one node. A node whose inventory lists the
 * digest is ready without any pull; a targeted node with no pull record yet
 * is queued (waiting for a budget slot).
 */
export function nodePrepullState(
  node: Pick<PrepullNode, 'id' | 'cachedImages'>,
  digest: string,
  pull: PullStatus | undefined,
): NodePrepullState {
  if (inventoryHolds(node, digest)) return { node: node.id, state: 'ready' };
  if (!pull) return { node: node.id, state: 'queued' };
  switch (pull.state) {
    case 'ready':
      return { node: node.id, state: 'ready', updatedAt: pull.updatedAt };
    case 'queued':
      return { node: node.id, state: 'queued', since: pull.updatedAt };
    case 'pulling':
      return {
        node: node.id,
        state: 'pulling',
        bytesDone: pull.bytesDone,
        bytesTotal: pull.bytesTotal,
        layersDone: pull.layersDone,
        layersTotal: pull.layersTotal,
        updatedAt: pull.updatedAt,
      };
    case 'failed':
      return {
        node: node.id,
        state: 'failed',
        reason: pull.reason || 'pull failed',
        attempts: Math.max(1, pull.attempts),
        updatedAt: pull.updatedAt,
      };
  }
}

/**
 * The nodes shown for a pin: labels match and not lost, and either the
 * digest can be pulled there now (Ready, not cordoned) or the node already
 * has something to say about it (holds it, or has a pull record).
 */
export function pinPrepullStatus(
  pin: PinRecord,
  nodes: readonly PrepullNode[],
  pulls: ReadonlyMap<string, PullStatus>,
  readyWindowMs: number,
  now: number,
): PinPrepullStatus {
  const shown = nodes
    .filter((n) => isProtectedTarget(n, pin))
    .filter((n) => canPullOn(n, readyWindowMs, now) || inventoryHolds(n, pin.digest) || pulls.has(n.id))
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => nodePrepullState(n, pin.digest, pulls.get(n.id)));
  return { pin, nodes: shown, ready: shown.filter((s) => s.state === 'ready').length };
}

/**
 * Read model for `GET /v1/images`: pins with their per-node state, built
 * from the pins, the node inventories and the pull records. Reads only.
 *
 *   const status = new PrepullStatus(redis, prefix, nodeReadyWindowMs);
 *   const items = await status.forTenant(tenant);      // newest pin first
 *   const one = await status.forPins([pin]);            // any pins you loaded
 */
export class PrepullStatus {
  private readonly pins: PinRepository;
  private readonly nodes: NodeRepository;
  private readonly pulls: PullRepository;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly readyWindowMs: number,
  ) {
    this.pins = new PinRepository(redis, prefix);
    this.nodes = new NodeRepository(redis, prefix);
    this.pulls = new PullRepository(redis, prefix);
  }

  /** Every pin of the tenant (active and still-rotating superseded ones), newest first. */
  async forTenant(tenant: string): Promise<PinPrepullStatus[]> {
    return this.forPins(await this.pins.listByTenant(tenant));
  }

  async forPins(pins: readonly PinRecord[], now = Date.now()): Promise<PinPrepullStatus[]> {
    if (pins.length === 0) return [];
    const nodes = await this.nodes.list();
    const ids = nodes.map((n) => n.id);
    const byDigest = new Map<string, Map<string, PullStatus>>();
    await Promise.all(
      [...new Set(pins.map((p) => p.digest))].map(async (digest) => {
        const found = await this.pulls.forDigest(digest, ids);
        byDigest.set(digest, new Map(found.map((s) => [s.node, s])));
      }),
    );
    return pins.map((pin) => pinPrepullStatus(pin, nodes, byDigest.get(pin.digest) ?? new Map(), this.readyWindowMs, now));
  }
}
