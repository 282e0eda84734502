import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  CHECKPOINT_STATES,
  checkpointEventTarget,
  checkpointStatesBefore,
  DEFAULT_QUARANTINE_AFTER,
  isQuarantined,
  isRestorable,
  isValidNodeId,
  type CheckpointEvent,
  type CheckpointRecord,
  type CheckpointState,
  type QuotaValues,
} from '@warmpod/domain';
import { EventLog, type EventLogOptions } from './event-log';
import { Keys } from './keys';
import { pipelineReplies, stringHash } from './pipeline-replies';
import {
  addCheckpointCopy,
  applyCheckpointEvent,
  createCheckpoint,
  latestArtifact,
  latestRestorable,
  notePushFailure,
  removeCheckpoint,
  setCheckpointArtifact,
} from './scripts/checkpoint-scripts';
import type { OverQuota } from './tenant-quotas';

/** A checkpoint as it is announced, before it is taken: it starts `pending`. */
export type NewCheckpoint = Pick<
  CheckpointRecord,
  'id' | 'key' | 'specKey' | 'runtime' | 'tenant' | 'node' | 'pod' | 'digest' | 'createdAt'
>;

export type CheckpointTransition =
  | { applied: true; from: CheckpointState; record: CheckpointRecord; quarantined: boolean }
  | { applied: false; why: 'not-found' }
  | { applied: false; why: 'not-allowed' | 'quarantined'; state: CheckpointState };

export interface CheckpointRepositoryOptions extends EventLogOptions {
  /** Restore failures after which a checkpoint is never offered again (default 3). */
  quarantineAfter?: number;
}

const hashSchema = z.object({
  id: z.string(),
  key: z.string(),
  specKey: z.string(),
  runtime: z.string(),
  tenant: z.string(),
  node: z.string(),
  pod: z.string(),
  digest: z.string(),
  state: z.enum(CHECKPOINT_STATES),
  sizeBytes: z.coerce.number().int().nonnegative(),
  createdAt: z.string(),
  updatedAt: z.string().optional(),
  restoreFailures: z.coerce.number().int().nonnegative(),
  reason: z.string().optional(),
  artifact: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/)
    .optional(),
  artifactBytes: z.coerce.number().int().nonnegative().optional(),
  pushError: z.string().optional(),
});

const garbageSchema = z.object({
  tenant: z.string().min(1),
  artifact: z.string().regex(/^sha256:[a-f0-9]{64}$/),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The checkpoint index: one record per checkpoint, looked up by (node, key) for restores and by tenant for the API. */
export class CheckpointRepository {
  private readonly keys: Keys;
  private readonly quarantineAfter: number;
  private readonly events: EventLog;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: CheckpointRepositoryOptions = {},
  ) {
    this.keys = new Keys(prefix);
    this.events = new EventLog(redis, prefix, opts);
    this.quarantineAfter = opts.quarantineAfter ?? DEFAULT_QUARANTINE_AFTER;
  }

  /** Records a pending checkpoint; a second create of the same id (a job run twice) returns the first. */
  async create(checkpoint: NewCheckpoint): Promise<{ created: boolean; record: CheckpointRecord }> {
    const outcome = await this.store(checkpoint, '');
    if ('kind' in outcome) throw new Error('an unchecked checkpoint was refused by a quota');
    return outcome;
  }

  /** Like `create`, within the tenant's checkpoint quotas, checked in the same step (over one: nothing written). */
  async createWithinQuota(
    checkpoint: NewCheckpoint,
    limits: QuotaValues,
  ): Promise<{ created: boolean; record: CheckpointRecord } | OverQuota> {
    return this.store(checkpoint, `${limits.checkpoints} ${limits.checkpointBytes}`);
  }

  private async store(checkpoint: NewCheckpoint, limits: string): Promise<{ created: boolean; record: CheckpointRecord } | OverQuota> {
    const createdMs = Date.parse(checkpoint.createdAt);
    if (!Number.isFinite(createdMs)) throw new Error(`createdAt "${checkpoint.createdAt}" is not a date`);
    const fields = { ...checkpoint, state: 'pending', sizeBytes: '0', restoreFailures: '0', createdMs: String(createdMs) };
    const created = await createCheckpoint.run(
      this.redis,
      {
        record: this.keys.checkpoint(checkpoint.id),
        tenantCheckpoints: this.keys.tenantCheckpoints(checkpoint.tenant),
        nodeCheckpoints: this.keys.nodeCheckpoints(checkpoint.node),
      },
      { id: checkpoint.id, createdMs, checkpointStem: this.keys.checkpointStem(), limits },
      { args: Object.entries(fields).flat() },
    );
    if (typeof created === 'object') return created;
    const record = await this.get(checkpoint.id);
    if (!record) throw new Error(`checkpoint ${checkpoint.id} vanished after create`);
    if (created) await this.announce(record);
    return { created, record };
  }

  /** The record; with `tenant`, another tenant's checkpoint is not found. */
  async get(id: string, tenant?: string): Promise<CheckpointRecord | undefined> {
    const record = parseRecord(await this.redis.hgetall(this.keys.checkpoint(id)));
    return record && (tenant === undefined || record.tenant === tenant) ? record : undefined;
  }

  /** Applies one event in one Lua step (see `applyCheckpointEvent` for the rules). */
  async apply(id: string, event: CheckpointEvent, now = new Date()): Promise<CheckpointTransition> {
    const to = checkpointEventTarget(event.type);
    const reason = 'reason' in event && event.reason !== undefined ? event.reason : '';
    const sizeBytes = event.type === 'checkpointed' ? String(event.sizeBytes) : '';
    const where = await this.restorableOf(id);
    if (!where) return { applied: false, why: 'not-found' };
    const reply = await applyCheckpointEvent.run(this.redis, where, {
      event: event.type,
      to,
      allowedCsv: checkpointStatesBefore(to).join(','),
      k: this.quarantineAfter,
      nowIso: now.toISOString(),
      reason,
      sizeBytes,
    });
    if (reply.outcome === 'not-found') return { applied: false, why: 'not-found' };
    if (reply.outcome !== 'applied') return { applied: false, why: reply.outcome, state: reply.from };
    const record = await this.get(id);
    if (!record) return { applied: false, why: 'not-found' };
    await this.announce(record);
    return { applied: true, from: reply.from, record, quarantined: isQuarantined(record, this.quarantineAfter) };
  }

  /** The record's key and its (node, key) restorable index; both never change after create. */
  private async restorableOf(id: string): Promise<{ record: string; restorable: string } | undefined> {
    const record = this.keys.checkpoint(id);
    const [node, key] = await this.redis.hmget(record, 'node', 'key');
    return node && key ? { record, restorable: this.keys.restorableCheckpoints(node, key) } : undefined;
  }

  markAvailable(id: string, sizeBytes: number): Promise<CheckpointTransition> {
    return this.apply(id, { type: 'checkpointed', sizeBytes });
  }

  markCheckpointFailed(id: string, reason: string): Promise<CheckpointTransition> {
    return this.apply(id, { type: 'checkpoint-failed', reason });
  }

  markRestored(id: string): Promise<CheckpointTransition> {
    return this.apply(id, { type: 'restored' });
  }

  /** Counts a failed restore; the result says whether the checkpoint is now quarantined. */
  markRestoreFailed(id: string, reason: string): Promise<CheckpointTransition> {
    return this.apply(id, { type: 'restore-failed', reason });
  }

  markDeleted(id: string, reason?: string): Promise<CheckpointTransition> {
    return this.apply(id, reason === undefined ? { type: 'deleted' } : { type: 'deleted', reason });
  }

  /** The newest checkpoint of `key` on `node` that a start may restore from (available, or failed fewer than k times). */
  async latestRestorable(node: string, key: string): Promise<CheckpointRecord | undefined> {
    const hash = await latestRestorable.run(
      this.redis,
      { restorable: this.keys.restorableCheckpoints(node, key) },
      { checkpointStem: this.keys.checkpointStem(), k: this.quarantineAfter },
    );
    return parseRecord(hash);
  }

  /**
   * Records the pushed artifact and offers the checkpoint to every node of
   * its runtime; false when it is no longer restorable (deleted meanwhile:
   * the caller deletes the artifact it pushed).
   */
  async setArtifact(id: string, artifact: string, artifactBytes: number, now = new Date()): Promise<boolean> {
    const record = this.keys.checkpoint(id);
    const specKey = await this.redis.hget(record, 'specKey');
    if (!specKey) return false;
    const reply = await setCheckpointArtifact.run(
      this.redis,
      { record, artifacts: this.keys.checkpointArtifacts(specKey) },
      { artifact, artifactBytes: String(artifactBytes), nowIso: now.toISOString() },
    );
    return reply.outcome === 'applied';
  }

  /** Why the last push failed; the checkpoint stays usable on its node. */
  async notePushFailure(id: string, reason: string): Promise<void> {
    await notePushFailure.run(this.redis, { record: this.keys.checkpoint(id) }, { reason: reason.slice(0, 2000) });
  }

  /** The newest restorable, pushed checkpoint of a full key, from any node (what a node without one fetches). */
  async latestArtifact(specKey: string, key: string): Promise<CheckpointRecord | undefined> {
    const hash = await latestArtifact.run(
      this.redis,
      { artifacts: this.keys.checkpointArtifacts(specKey) },
      { checkpointStem: this.keys.checkpointStem(), k: this.quarantineAfter, key },
    );
    return parseRecord(hash);
  }

  /**
   * Restorable, pushed checkpoints of a spec key, newest first, at most
   * `limit`: which runtimes could fetch one and how many bytes it is (placement).
   */
  async artifactsOf(specKey: string, limit = 16): Promise<CheckpointRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.checkpointArtifacts(specKey), 0, limit - 1);
    return (await this.getMany(ids)).filter((r) => r.artifact !== undefined && isRestorable(r, this.quarantineAfter));
  }

  /** Records a fetched copy on `node`; false when the checkpoint is no longer restorable. */
  addCopy(id: string, node: string): Promise<boolean> {
    return addCheckpointCopy.run(this.redis, { record: this.keys.checkpoint(id), copies: this.keys.checkpointCopies(id) }, { node });
  }

  async removeCopy(id: string, node: string): Promise<void> {
    await this.redis.srem(this.keys.checkpointCopies(id), node);
  }

  /** Nodes holding a fetched copy (a delete removes their files too). */
  async copiesOf(id: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.checkpointCopies(id))).sort();
  }

  /**
   * Notes a registry artifact to delete (its checkpoint is gone): it stays
   * noted until `artifactDeleted`, so a registry that is down only delays it.
   */
  async queueArtifactDelete(tenant: string, artifact: string): Promise<void> {
    await this.redis.sadd(this.keys.checkpointArtifactGarbage(), JSON.stringify({ tenant, artifact }));
  }

  /** Artifacts noted for deletion, at most `limit`; an entry that does not parse is dropped. */
  async artifactDeletes(limit = 100): Promise<Array<{ tenant: string; artifact: string }>> {
    const members = await this.redis.srandmember(this.keys.checkpointArtifactGarbage(), limit);
    const out: Array<{ tenant: string; artifact: string }> = [];
    for (const member of members) {
      const parsed = garbageSchema.safeParse(safeJson(member));
      if (parsed.success) out.push(parsed.data);
      else await this.redis.srem(this.keys.checkpointArtifactGarbage(), member);
    }
    return out;
  }

  /** The registry confirmed the delete (or had nothing): forgotten. */
  async artifactDeleted(tenant: string, artifact: string): Promise<void> {
    await this.redis.srem(this.keys.checkpointArtifactGarbage(), JSON.stringify({ tenant, artifact }));
  }

  /** Every node that holds or held checkpoints (a SCAN: for periodic sweeps, not a hot path). */
  async nodesWithCheckpoints(): Promise<string[]> {
    const nodes = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.nodeCheckpointsPattern(), 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const node = this.keys.nodeOfCheckpointsKey(key);
        if (node !== undefined && isValidNodeId(node)) nodes.add(node);
      }
    } while (cursor !== '0');
    return [...nodes].sort();
  }

  /** A tenant's checkpoints, newest first, deleted ones included (their state says so). */
  async listByTenant(tenant: string, opts: { offset?: number; limit?: number } = {}): Promise<CheckpointRecord[]> {
    const offset = opts.offset ?? 0;
    const ids = await this.redis.zrevrange(this.keys.tenantCheckpoints(tenant), offset, offset + (opts.limit ?? 100) - 1);
    return (await this.getMany(ids)).filter((r) => r.tenant === tenant);
  }

  /** Every checkpoint recorded on a node, oldest first (what retention looks at). */
  async listByNode(node: string): Promise<CheckpointRecord[]> {
    return (await this.getMany(await this.redis.zrange(this.keys.nodeCheckpoints(node), 0, -1))).filter((r) => r.node === node);
  }

  /** Forgets a checkpoint entirely (record and index entries); false when there was none. */
  async remove(id: string): Promise<boolean> {
    const record = this.keys.checkpoint(id);
    const [tenant, node, key] = await this.redis.hmget(record, 'tenant', 'node', 'key');
    if (!tenant || !node || !key) return false;
    return removeCheckpoint
      .run(
        this.redis,
        {
          record,
          tenantCheckpoints: this.keys.tenantCheckpoints(tenant),
          nodeCheckpoints: this.keys.nodeCheckpoints(node),
          restorable: this.keys.restorableCheckpoints(node, key),
        },
        { id },
      )
      .then(async (removed) => {
        await this.redis.del(this.keys.checkpointCopies(id));
        return removed;
      });
  }

  /** A checkpoint's state as an event of its tenant and of the pod it was taken of. */
  private async announce(record: CheckpointRecord): Promise<void> {
    const data = { state: record.state, pod: record.pod, node: record.node, ...(record.reason ? { reason: record.reason } : {}) };
    await this.events.append(record.tenant, 'checkpoint', record.id, data, record.pod);
  }

  private async getMany(ids: string[]): Promise<CheckpointRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.checkpoint(id));
    return pipelineReplies(await pipeline.exec()).flatMap((hash) => {
      const record = parseRecord(stringHash.parse(hash));
      return record ? [record] : [];
    });
  }
}

function parseRecord(hash: Record<string, string>): CheckpointRecord | undefined {
  if (!hash['id']) return undefined;
  const { reason, pushError, ...rest } = hashSchema.parse(hash);
  return {
    ...rest,
    ...(reason === undefined || reason === '' ? {} : { reason }),
    ...(pushError === undefined || pushError === '' ? {} : { pushError }),
  };
}
