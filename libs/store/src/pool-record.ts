import { z } from 'zod';
import { readinessSpecSchema, type ReadinessSpec, type Resources } from '@warmpod/domain';
import type { OverQuota } from './scripts/replies';

/** The process-shaping part of a pool's pods (a pod spec without placement fields). */
export interface PoolTemplate {
  command: string[];
  args: string[];
  env: Record<string, string>;
  ports: number[];
  resources: Resources;
  /** When a warm pod is ready: the pool counts and hands out only pods whose readiness held. */
  readiness?: ReadinessSpec;
}

/** The pool's image: what was asked for, its normalised reference, and the digest it is pinned to now. */
export interface PoolImage {
  requested: string;
  /** `registry/repository:tag` (or `@digest`): the reference the pool's pin is made for. */
  reference: string;
  pinned: string;
  digest: string;
}

export interface PoolRecord {
  id: string;
  tenant: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  image: PoolImage;
  size: number;
  template: PoolTemplate;
  nodeSelector: Record<string, string>;
  /** `draining` after DELETE: the controller retires every pod, then the pool is removed. */
  state: 'active' | 'draining';
  /** Increases by one each time the pool moves to a new digest. */
  generation: number;
  /** When the current digest became the pool's. */
  pinnedAt: string;
  /** The digest before the last move (rotation source). */
  previousDigest?: string;
  /** The pin warming the current digest, and whether the pool created it. */
  pin?: { id: string; owned: boolean };
  /** Pods that ended on their own before being claimed, in a row; refills wait until `backoffUntil` (ms). */
  failStreak: number;
  backoffUntil: number;
}

export type NewPool = Pick<PoolRecord, 'id' | 'tenant' | 'name' | 'createdAt' | 'image' | 'size' | 'template' | 'nodeSelector'>;

/** A warm pod the pool holds (not claimed, not retired). */
export interface PoolMember {
  podId: string;
  digest: string;
  admittedAt: number;
}

/** How a member may be retired (see RETIRE_MEMBER). */
export type RetireMode = 'drain' | 'superseded' | 'rotate' | 'shrink';
export type RetireOutcome = 'retired' | 'absent' | 'ended' | 'refused';
export type AdmitOutcome = 'admitted' | 'full' | 'stale' | 'backoff' | 'inactive';

export type ClaimOutcome =
  | { kind: 'claimed'; podId: string; digest: string }
  | { kind: 'none' }
  | { kind: 'inactive' }
  | { kind: 'replay'; podId: string }
  | { kind: 'conflict'; podId: string }
  | OverQuota;

export interface PruneOptions {
  /** How long a member may exist without a pod record (its creator is still writing it). */
  graceMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

const defSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  createdAt: z.string(),
  template: z.object({
    command: z.array(z.string()),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    ports: z.array(z.number()),
    resources: z.object({ cpu: z.number(), memoryMiB: z.number(), gpu: z.number() }),
    readiness: readinessSpecSchema.optional(),
  }),
  nodeSelector: z.record(z.string(), z.string()),
});
const imageSchema = z.object({ requested: z.string(), reference: z.string(), pinned: z.string() });

/** Reads a pool hash; undefined when it is missing or not a pool. */
export function parsePool(raw: Record<string, string>): PoolRecord | undefined {
  if (!raw['def'] || !raw['image'] || !raw['digest']) return undefined;
  const def = defSchema.safeParse(JSON.parse(raw['def']));
  const image = imageSchema.safeParse(JSON.parse(raw['image']));
  if (!def.success || !image.success) return undefined;
  return {
    ...def.data,
    updatedAt: raw['updatedAt'] ?? def.data.createdAt,
    image: { ...image.data, digest: raw['digest'] },
    size: Number(raw['size'] ?? 0),
    state: raw['state'] === 'draining' ? 'draining' : 'active',
    generation: Number(raw['generation'] ?? 1),
    pinnedAt: raw['pinnedAt'] ?? def.data.createdAt,
    ...(raw['previousDigest'] ? { previousDigest: raw['previousDigest'] } : {}),
    ...(raw['pinId'] && raw['pinDigest'] === raw['digest'] ? { pin: { id: raw['pinId'], owned: raw['pinOwned'] === '1' } } : {}),
    failStreak: Number(raw['failStreak'] ?? 0),
    backoffUntil: Number(raw['backoffUntil'] ?? 0),
  };
}
