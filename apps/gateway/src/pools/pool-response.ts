import { isTerminal, type PodPhase, type PodRecord } from '@warmpod/domain';
import type { PoolMember, PoolRecord, PoolTemplate } from '@warmpod/store';

export interface WarmPodView {
  id: string;
  node?: string;
  digest: string;
  phase: PodPhase | 'Creating';
  /** Of the pool's current digest (false: an older one, rotating out). */
  current: boolean;
  /** Running and not being stopped: the next claim may get it. */
  free: boolean;
}

export interface PoolResponse {
  id: string;
  name: string;
  state: 'active' | 'draining';
  image: { requested: string; pinned: string; digest: string };
  size: number;
  desired: number;
  /** Warm pods of the current digest that are ready (Running: their readiness held) and free: what claims get. */
  ready: number;
  /** Warm pods of the current digest still starting (placed, pulling, waiting for their readiness): not claimable yet. */
  starting: number;
  podTemplate: PoolTemplate;
  nodeSelector: Record<string, string>;
  generation: number;
  pinnedAt: string;
  /** Present while pods of an older digest are still in the pool. */
  rotation?: { from: string; to: string; since: string; oldPods: number };
  pods: WarmPodView[];
  /** Pods the pool retired that have not stopped yet. */
  retiring: string[];
  /** Counters per digest (`started`, `claimed`, `retired`) and per end phase (`ended`). */
  stats: {
    started: Record<string, number>;
    claimed: Record<string, number>;
    retired: Record<string, number>;
    ended: Record<string, number>;
  };
  /** Set while refills wait after pods of the template ended on their own. */
  backoffUntil?: string;
  createdAt: string;
  updatedAt: string;
}

export interface MemberPod {
  member: PoolMember;
  pod?: PodRecord;
  stopRequested: boolean;
}

/** The pool as `GET /v1/pools` shows it. */
export function toPoolResponse(
  pool: PoolRecord,
  members: readonly MemberPod[],
  stats: Record<string, number>,
  retiring: readonly string[] = [],
  now = Date.now(),
): PoolResponse {
  const pods: WarmPodView[] = members.map(({ member, pod, stopRequested }) => ({
    id: member.podId,
    ...(pod?.node ? { node: pod.node } : {}),
    digest: member.digest,
    phase: pod?.phase ?? 'Creating',
    current: member.digest === pool.image.digest,
    free: pod?.phase === 'Running' && !stopRequested,
  }));
  const oldPods = pods.filter((p) => !p.current).length;
  return {
    id: pool.id,
    name: pool.name,
    state: pool.state,
    image: { requested: pool.image.requested, pinned: pool.image.pinned, digest: pool.image.digest },
    size: pool.size,
    desired: pool.state === 'active' ? pool.size : 0,
    ready: pods.filter((p) => p.current && p.free).length,
    starting: pods.filter((p) => p.current && p.phase !== 'Running' && (p.phase === 'Creating' || !isTerminal(p.phase))).length,
    podTemplate: pool.template,
    nodeSelector: pool.nodeSelector,
    generation: pool.generation,
    pinnedAt: pool.pinnedAt,
    ...(oldPods > 0 && pool.previousDigest
      ? { rotation: { from: pool.previousDigest, to: pool.image.digest, since: pool.pinnedAt, oldPods } }
      : {}),
    pods,
    retiring: [...retiring],
    stats: splitStats(stats),
    ...(pool.backoffUntil > now ? { backoffUntil: new Date(pool.backoffUntil).toISOString() } : {}),
    createdAt: pool.createdAt,
    updatedAt: pool.updatedAt,
  };
}

function splitStats(raw: Record<string, number>): PoolResponse['stats'] {
  const out: PoolResponse['stats'] = { started: {}, claimed: {}, retired: {}, ended: {} };
  for (const [key, value] of Object.entries(raw)) {
    const at = key.indexOf(':');
    const kind = key.slice(0, at) as keyof PoolResponse['stats'];
    if (at > 0 && kind in out) out[kind][key.slice(at + 1)] = value;
  }
  return out;
}
