import type { Redis } from 'ioredis';
import {
  isPodPhase,
  isTerminal,
  phasesBefore,
  podCharge,
  type EffectiveCheckpointing,
  type Endpoint,
  type Placement,
  type PodCheckpointStatus,
  type PodPhase,
  type PodRecord,
  type QuotaValues,
  type StartMode,
} from '@warmpod/domain';
import { EventLog, type EventLogOptions } from './event-log';
import { Keys } from './keys';
import { decodePod, READY_FIELD } from './pod-record';
import { annotatePod, createPod, endPodOnNode, removePod, transitionPod } from './scripts/pod-scripts';
import { lostBeforeIso, podChargeArg, podLimitsArg, type OverQuota } from './tenant-quotas';

/** The immutable half of a pod: what was asked for, pinned. */
export type PodDefinition = Pick<PodRecord, 'id' | 'tenant' | 'createdAt' | 'labels' | 'image' | 'spec'>;

/** Mutable status fields a transition may set; `null` clears a field. */
export interface StatusPatch {
  node?: string | null;
  placement?: Placement | null;
  startMode?: StartMode | null;
  message?: string | null;
  endpoints?: Endpoint[] | null;
  exitCode?: number | null;
  error?: string | null;
  stopRequested?: boolean;
  restarts?: number;
  checkpointing?: EffectiveCheckpointing | null;
  checkpoint?: PodCheckpointStatus | null;
  /** When the pod's readiness held (ISO); shown as `ready` and `timeline.Ready`. */
  readyAt?: string | null;
}

export type CreateOutcome =
  { kind: 'created'; podId: string } | { kind: 'replay'; podId: string } | { kind: 'conflict'; podId: string } | OverQuota;

export interface TransitionOutcome {
  applied: boolean;
  /** Phase before the call (undefined when the pod does not exist). */
  previous?: PodPhase;
}

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

export class PodRepository {
  private readonly keys: Keys;
  private readonly events: EventLog;

  /** `opts.events: false`: the pod scripts append no events (WARMPOD_EVENTS=off). */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: EventLogOptions = {},
  ) {
    this.keys = new Keys(prefix);
    this.events = new EventLog(redis, prefix, opts);
  }

  /**
   * Stores a new Pending pod, honouring an idempotency key: the same key with
   * the same body hash replays the first pod; another body is a conflict.
   * With `limits`, the pod is charged to its tenant's pod quotas in the same
   * step (over one: refused, nothing written); without, it is charged
   * elsewhere (a pool's warm pod, charged as the pool's size).
   */
  async create(def: PodDefinition, idempotency?: { key: string; bodyHash: string }, limits?: QuotaValues): Promise<CreateOutcome> {
    const outcome = await createPod.run(
      this.redis,
      {
        spec: this.keys.podSpec(def.id),
        status: this.keys.podStatus(def.id),
        tenantPods: this.keys.tenantPods(def.tenant),
        quotaPods: this.keys.quotaPods(def.tenant),
      },
      {
        specJson: JSON.stringify(def),
        createdMs: Date.parse(def.createdAt),
        podId: def.id,
        bodyHash: idempotency?.bodyHash ?? '',
        idemTtlSec: IDEMPOTENCY_TTL_SEC,
        createdIso: def.createdAt,
        tenant: def.tenant,
        ...this.eventStreams(),
        statusStem: this.keys.podStatusStem(),
        charge: limits ? podChargeArg(podCharge(def.spec)) : '',
        limits: limits ? podLimitsArg(limits) : '',
        lostBeforeIso: lostBeforeIso(),
      },
      { keys: idempotency ? [this.keys.idempotency(def.tenant, idempotency.key)] : [] },
    );
    if (outcome.kind === 'created') return { kind: 'created', podId: def.id };
    if (outcome.kind === 'collision') throw new Error(`pod id ${def.id} already exists`);
    if (outcome.kind === 'over-quota') return outcome;
    return outcome.bodyHash === idempotency?.bodyHash
      ? { kind: 'replay', podId: outcome.podId }
      : { kind: 'conflict', podId: outcome.podId };
  }

  /** Removes a pod record entirely (rollback of a request that failed after create). */
  async remove(def: Pick<PodDefinition, 'id' | 'tenant'>, idempotencyKey?: string): Promise<void> {
    await removePod.run(
      this.redis,
      { spec: this.keys.podSpec(def.id), status: this.keys.podStatus(def.id), tenantPods: this.keys.tenantPods(def.tenant) },
      {
        podId: def.id,
        allEvents: this.keys.allEvents(),
        tenantEvents: this.keys.tenantEvents(def.tenant),
        podEvents: this.keys.podEvents(def.id),
      },
      { keys: idempotencyKey ? [this.keys.idempotency(def.tenant, idempotencyKey)] : [] },
    );
  }

  /** The pod an idempotency key made (within its 24 h), if any. */
  async podIdForKey(tenant: string, key: string): Promise<string | undefined> {
    const value = await this.redis.get(this.keys.idempotency(tenant, key));
    const podId = value?.split(' ')[1];
    return podId === undefined || podId === '' ? undefined : podId;
  }

  async get(id: string): Promise<PodRecord | undefined> {
    const [specJson, status] = await Promise.all([this.redis.get(this.keys.podSpec(id)), this.redis.hgetall(this.keys.podStatus(id))]);
    if (!specJson || !status['phase']) return undefined;
    return decodePod(id, specJson, status);
  }

  /** Pods of a tenant, newest first. */
  async listByTenant(tenant: string, limit: number, beforeMs?: number): Promise<PodRecord[]> {
    const max = beforeMs === undefined ? '+inf' : `(${beforeMs}`;
    const ids = await this.redis.zrevrangebyscore(this.keys.tenantPods(tenant), max, '-inf', 'LIMIT', 0, limit);
    const pods = await Promise.all(ids.map((id) => this.get(id)));
    return pods.filter((p): p is PodRecord => p !== undefined);
  }

  /**
   * Moves a pod to `to` when its current phase allows it (see pod-phase.ts),
   * narrowed to `onlyFrom` when given; terminal phases release the pod's
   * reservation on `node` atomically.
   */
  async transition(
    id: string,
    to: PodPhase,
    patch: StatusPatch = {},
    node?: string,
    onlyFrom?: readonly PodPhase[],
  ): Promise<TransitionOutcome> {
    const allowedCsv = phasesBefore(to)
      .filter((p) => !onlyFrom || onlyFrom.includes(p))
      .join(',');
    const fields: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      fields.push(key === 'readyAt' ? READY_FIELD : key, value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));
    }
    const status = this.keys.podStatus(id);
    const nowIso = new Date().toISOString();
    const { applied, previous } =
      isTerminal(to) && node
        ? await endPodOnNode.run(
            this.redis,
            { status, usage: this.keys.nodeUsage(node), reservations: this.keys.nodeReservations(node) },
            { to, nowIso, allowedCsv, podId: id, channel: this.keys.capacityFreed(), nodeId: node, ...this.eventStreams() },
            { args: fields },
          )
        : await transitionPod.run(this.redis, { status }, { to, nowIso, allowedCsv, podId: id, ...this.eventStreams() }, { args: fields });
    return { applied, previous: isPodPhase(previous) ? previous : undefined };
  }

  /** Sets status fields without a phase change (e.g. why a pod is still Pending). */
  async annotate(id: string, patch: Pick<StatusPatch, 'message' | 'stopRequested' | 'checkpoint' | 'restarts'>): Promise<void> {
    const fields: Record<string, string> = {};
    if (patch.restarts !== undefined) fields['restarts'] = String(patch.restarts);
    if (patch.message !== undefined && patch.message !== null) fields['message'] = patch.message;
    if (patch.stopRequested !== undefined) fields['stopRequested'] = String(patch.stopRequested);
    if (patch.checkpoint !== undefined) fields['checkpoint'] = patch.checkpoint === null ? '' : JSON.stringify(patch.checkpoint);
    if (Object.keys(fields).length === 0) return;
    await annotatePod.run(this.redis, { status: this.keys.podStatus(id) }, {}, { args: Object.entries(fields).flat() });
  }

  /** Where the pod scripts append a pod's events (see event-log.ts). */
  private eventStreams(): { allEvents: string; tenantEventsStem: string; podEventsStem: string } {
    return this.events.podEventArgs();
  }

  async isStopRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.podStatus(id), 'stopRequested')) === 'true';
  }
}
