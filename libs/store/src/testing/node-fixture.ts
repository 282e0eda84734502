import type { Resources } from '@warmpod/domain';
import { nodeChangeMessage } from '../change-messages';
import { Keys } from '../keys';
import type { CachedImage, NodeRegistration } from '../node-record';
import { NodeRepository } from '../node-repository';
import { NodeReservations } from '../node-reservations';
import { NodeSessions, type NodeInventory } from '../node-sessions';
import { freshPrefix, redis } from './spec-redis';

/** Shared by the node registry, session and reservation integration specs: real Redis, a fresh key prefix per test. */
export { redis, REDIS, useSpecRedis as useNodeStore } from './spec-redis';
export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;
export const DIGEST_C = `sha256:${'c'.repeat(64)}`;
export const LAYER = (c: string, sizeBytes: number) => ({ digest: `sha256:${c.repeat(64)}`, sizeBytes });
export const IMAGE_A: CachedImage = {
  digest: DIGEST_A,
  sizeBytes: 30_000_000_000,
  layers: [LAYER('1', 20_000_000_000), LAYER('2', 9_999_000_000)],
};
export const IMAGE_B: CachedImage = { digest: DIGEST_B, sizeBytes: 1_500, layers: [LAYER('1', 1_000)] };
export const IMAGE_C: CachedImage = { digest: DIGEST_C, sizeBytes: 99, layers: [] };

export function sortImages<T extends { digest: string }>(images: T[]): T[] {
  return [...images].sort((x, y) => x.digest.localeCompare(y.digest));
}

export interface NodeScope {
  prefix: string;
  nodes: NodeRepository;
  sessions: NodeSessions;
  reservations: NodeReservations;
}

export function scope(): NodeScope {
  const prefix = freshPrefix();
  return {
    prefix,
    nodes: new NodeRepository(redis, prefix),
    sessions: new NodeSessions(redis, prefix),
    reservations: new NodeReservations(redis, prefix),
  };
}

/** An inventory of `images` only (sizes, no layers unless given). */
export function inventory(images: Array<{ digest: string; sizeBytes: number; layers?: CachedImage['layers'] }>): NodeInventory {
  return { images: images.map((i) => ({ layers: [], ...i })), runningPods: [], checkpoints: [] };
}

/** True when the reservation was made (what `tryReserve` says, without the usage). */
export async function reserve(s: Pick<NodeScope, 'reservations'>, node: string, pod: string, want: Resources): Promise<boolean> {
  return (await s.reservations.tryReserve(node, pod, want)).reserved;
}

/**
 * Takes a node out of the registry without a session or the reservation
 * check of `NodeSessions.deregister` (what a leaving agent calls): for
 * fixtures only. Layer records are shared by digest and stay.
 */
export async function deregister(prefix: string, id: string): Promise<void> {
  const keys = new Keys(prefix);
  await redis
    .multi()
    .srem(keys.nodes(), id)
    .del(keys.node(id), keys.nodeImages(id))
    .publish(keys.nodesChanged(), nodeChangeMessage(id, 'deregistered'))
    .exec();
}

export function registration(id: string, capacity: Resources, over: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    id,
    labels: { zone: 'a', 'warmpod.dev/pool': 'default' },
    capacity,
    agentUrl: `http://127.0.0.1:7${id.length}00`,
    capabilities: { runtime: 'runc', criu: false, arch: 'x64' },
    ...over,
  };
}
