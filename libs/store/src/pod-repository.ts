import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  isPodPhase,
  isTerminal,
  phasesBefore,
  POD_PHASES,
  type EffectiveCheckpointing,
  type Endpoint,
  type Placement,
  type PodCheckpointStatus,
  type PodPhase,
  type PodRecord,
  type StartMode,
} from '@warmpod/domain';
import { Keys } from './keys';
import { runScript } from './connection';
import { CREATE_POD, DELETE_POD, TRANSITION } from './lua';

/** HSET only on a pod that exists: HSET on a missing key would create a husk. */
const ANNOTATE_EXISTING = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) end return 1`;

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
}

export type CreateOutcome = { kind: 'created'; podId: string } | { kind: 'replay'; podId: string } | { kind: 'conflict'; podId: string };

export interface TransitionOutcome {
  applied: boolean;
  /** Phase before the call (undefined when the pod does not exist). */
  previous?: PodPhase;
}

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

const statusSchema = z.object({ phase: z.string().refine(isPodPhase) }).passthrough();

export class PodRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Stores a new Pending pod, honouring an idempotency key: the same key with
   * the same body hash replays the first pod; another body is a conflict.
   */
  async create(def: PodDefinition, idempotency?: { key: string; bodyHash: string }): Promise<CreateOutcome> {
    const idemKey = idempotency ? this.keys.idempotency(def.tenant, idempotency.key) : '';
    const result = (await runScript(
      this.redis,
      CREATE_POD,
      [this.keys.podSpec(def.id), this.keys.podStatus(def.id), this.keys.tenantPods(def.tenant), idemKey],
      [
        JSON.stringify(def),
        String(Date.parse(def.createdAt)),
        def.id,
        idempotency?.bodyHash ?? '',
        String(IDEMPOTENCY_TTL_SEC),
        def.createdAt,
      ],
    )) as [string, string];
    if (result[0] === 'created') return { kind: 'created', podId: def.id };
    if (result[0] === 'collision') throw new Error(`pod id ${def.id} already exists`);
    const [hash, podId] = result[1].split(' ') as [string, string];
    return hash === idempotency?.bodyHash ? { kind: 'replay', podId } : { kind: 'conflict', podId };
  }

  /** Removes a pod record entirely (rollback of a request that failed after create). */
  async remove(def: Pick<PodDefinition, 'id' | 'tenant'>, idempotencyKey?: string): Promise<void> {
    await runScript(
      this.redis,
      DELETE_POD,
      [
        this.keys.podSpec(def.id),
        this.keys.podStatus(def.id),
        this.keys.tenantPods(def.tenant),
        idempotencyKey ? this.keys.idempotency(def.tenant, idempotencyKey) : '',
      ],
      [def.id],
    );
  }

  async get(id: string): Promise<PodRecord | undefined> {
    const [specJson, status] = await this.redis
      .multi()
      .get(this.keys.podSpec(id))
      .hgetall(this.keys.podStatus(id))
      .exec()
      .then((r) => [r?.[0]?.[1], r?.[1]?.[1]] as [string | null, Record<string, string>]);
    if (!specJson || !status || !status['phase']) return undefined;
    return assemble(JSON.parse(specJson) as PodDefinition, status);
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
    const allowed = phasesBefore(to).filter((p) => !onlyFrom || onlyFrom.includes(p));
    const release = isTerminal(to) && node ? '1' : '0';
    const fields: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      fields.push(key, value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));
    }
    const [applied, previous] = (await runScript(
      this.redis,
      TRANSITION,
      [
        this.keys.podStatus(id),
        node ? this.keys.nodeUsage(node) : this.keys.podStatus(id),
        node ? this.keys.nodeReservations(node) : this.keys.podStatus(id),
      ],
      [to, new Date().toISOString(), allowed.join(','), release, id, this.keys.capacityFreed(), node ?? '', ...fields],
    )) as [number, string];
    return { applied: applied === 1, previous: previous && isPodPhase(previous) ? previous : undefined };
  }

  /** Sets status fields without a phase change (e.g. why a pod is still Pending). */
  async annotate(id: string, patch: Pick<StatusPatch, 'message' | 'stopRequested' | 'checkpoint'>): Promise<void> {
    const fields: Record<string, string> = {};
    if (patch.message !== undefined && patch.message !== null) fields['message'] = patch.message;
    if (patch.stopRequested !== undefined) fields['stopRequested'] = String(patch.stopRequested);
    if (patch.checkpoint !== undefined) fields['checkpoint'] = patch.checkpoint === null ? '' : JSON.stringify(patch.checkpoint);
    if (Object.keys(fields).length === 0) return;
    await runScript(this.redis, ANNOTATE_EXISTING, [this.keys.podStatus(id)], Object.entries(fields).flat());
  }

  async isStopRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.podStatus(id), 'stopRequested')) === 'true';
  }
}

function assemble(def: PodDefinition, raw: Record<string, string>): PodRecord {
  const status = statusSchema.parse(raw) as Record<string, string> & { phase: PodPhase };
  const timeline: PodRecord['timeline'] = {};
  for (const phase of POD_PHASES) {
    const t = status[`t:${phase}`];
    if (t) timeline[phase] = t;
  }
  const json = <T>(key: string): T | undefined => (status[key] ? (JSON.parse(status[key]) as T) : undefined);
  return {
    ...def,
    phase: status.phase,
    ...(status['node'] ? { node: status['node'] } : {}),
    ...(status['placement'] ? { placement: json<Placement>('placement') } : {}),
    ...(status['startMode'] ? { startMode: status['startMode'] as StartMode } : {}),
    ...(status['message'] ? { message: status['message'] } : {}),
    timeline,
    endpoints: json<Endpoint[]>('endpoints') ?? [],
    ...(status['exitCode'] !== undefined && status['exitCode'] !== '' ? { exitCode: Number(status['exitCode']) } : {}),
    ...(status['error'] ? { error: status['error'] } : {}),
    restarts: Number(status['restarts'] ?? 0),
    ...(status['checkpointing'] ? { checkpointing: json<EffectiveCheckpointing>('checkpointing') } : {}),
    ...(status['checkpoint'] ? { checkpoint: json<PodCheckpointStatus>('checkpoint') } : {}),
  };
}
