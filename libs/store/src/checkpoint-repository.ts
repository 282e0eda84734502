import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  CHECKPOINT_STATES,
  checkpointStatesBefore,
  DEFAULT_QUARANTINE_AFTER,
  isQuarantined,
  type CheckpointEvent,
  type CheckpointRecord,
  type CheckpointState,
} from '@warmpod/domain';

/** A checkpoint as it is announced, before it is taken: it starts `pending`. */
export type NewCheckpoint = Pick<
  CheckpointRecord,
  'id' | 'key' | 'specKey' | 'runtime' | 'tenant' | 'node' | 'pod' | 'digest' | 'createdAt'
>;

export type CheckpointTransition =
  | { applied: true; from: CheckpointState; record: CheckpointRecord; quarantined: boolean }
  | { applied: false; why: 'not-found' }
  | { applied: false; why: 'not-allowed' | 'quarantined'; state: CheckpointState };

export interface CheckpointRepositoryOptions {
  /** Restore failures after which a checkpoint is never offered again (default 3). */
  quarantineAfter?: number;
}

/**
 * Keys of the checkpoint index (kept here until keys.ts takes them):
 * `ckpt:<id>` hash (the record), `tenant:<t>:ckpts` and `node:<n>:ckpts`
 * zsets by creation time, and `node:<n>:ckpt-key:<key>` the restorable
 * checkpoints of one key on one node, newest last.
 */
class CheckpointKeys {
  constructor(readonly prefix: string) {}
  record(id: string): string {
    return `${this.prefix}ckpt:${id}`;
  }
  tenant(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:ckpts`;
  }
  node(node: string): string {
    return `${this.prefix}node:${node}:ckpts`;
  }
  restorable(node: string, key: string): string {
    return `${this.prefix}node:${node}:ckpt-key:${key}`;
  }
  /** Lua builds `restorable` from this, the record's node and its key. */
  get nodePrefix(): string {
    return `${this.prefix}node:`;
  }
}

/** KEYS: record, tenantIndex, nodeIndex. ARGV: id, createdMs, field1, value1, ... Creating an existing id changes nothing. */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
`;

/**
 * One event on one checkpoint, with the domain's rules: the state must be in
 * the allowed-from list, a quarantined checkpoint only moves to deleted, a
 * restore failure counts up and takes the checkpoint out of the restorable
 * index once it reaches k. KEYS: record.
 * ARGV: event, to, allowedCsv, k, nowIso, reason, sizeBytes, nodePrefix.
 */
const TRANSITION = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not-found', ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == state then allowed = true end end
if not allowed then return {'not-allowed', state} end
local k = tonumber(ARGV[4])
local failures = tonumber(redis.call('HGET', KEYS[1], 'restoreFailures') or '0')
if ARGV[2] ~= 'deleted' and failures >= k then return {'quarantined', state} end
local f = redis.call('HMGET', KEYS[1], 'id', 'node', 'key', 'createdMs')
local restorable = ARGV[8] .. f[2] .. ':ckpt-key:' .. f[3]
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updatedAt', ARGV[5])
if ARGV[1] == 'checkpointed' then
  redis.call('HSET', KEYS[1], 'sizeBytes', ARGV[7])
  redis.call('HDEL', KEYS[1], 'reason')
  redis.call('ZADD', restorable, f[4], f[1])
elseif ARGV[1] == 'restored' then
  redis.call('ZADD', restorable, f[4], f[1])
elseif ARGV[1] == 'restore-failed' then
  failures = redis.call('HINCRBY', KEYS[1], 'restoreFailures', 1)
  redis.call('HSET', KEYS[1], 'reason', ARGV[6])
  if failures >= k then redis.call('ZREM', restorable, f[1]) end
else
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
  redis.call('ZREM', restorable, f[1])
end
return {'applied', state}
`;

/**
 * The newest restorable checkpoint of a key on a node, as a flat HGETALL
 * list; index entries whose record is gone are dropped on the way.
 * KEYS: restorable. ARGV: recordPrefix, k.
 */
const LATEST_RESTORABLE = `
local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[1] .. id, 'state', 'restoreFailures')
  if not r[1] then
    redis.call('ZREM', KEYS[1], id)
  elseif (r[1] == 'available' or r[1] == 'restore_failed') and tonumber(r[2] or '0') < tonumber(ARGV[2]) then
    return redis.call('HGETALL', ARGV[1] .. id)
  end
end
return {}
`;

/** Removes a record and every index entry of it. KEYS: record. ARGV: id, prefix. */
const REMOVE = `
local f = redis.call('HMGET', KEYS[1], 'tenant', 'node', 'key')
if not f[1] then return 0 end
redis.call('ZREM', ARGV[2] .. 'tenant:' .. f[1] .. ':ckpts', ARGV[1])
redis.call('ZREM', ARGV[2] .. 'node:' .. f[2] .. ':ckpts', ARGV[1])
redis.call('ZREM', ARGV[2] .. 'node:' .. f[2] .. ':ckpt-key:' .. f[3], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`;

const TARGET: Record<CheckpointEvent['type'], CheckpointState> = {
  checkpointed: 'available',
  'checkpoint-failed': 'checkpoint_failed',
  restored: 'available',
  'restore-failed': 'restore_failed',
  deleted: 'deleted',
};

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
});

/** The checkpoint index: one record per checkpoint, looked up by (node, key) for restores and by tenant for the API. */
export class CheckpointRepository {
  private readonly keys: CheckpointKeys;
  private readonly quarantineAfter: number;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: CheckpointRepositoryOptions = {},
  ) {
    this.keys = new CheckpointKeys(prefix);
    this.quarantineAfter = opts.quarantineAfter ?? DEFAULT_QUARANTINE_AFTER;
  }

  /** Records a pending checkpoint; a second create of the same id (a job run twice) returns the first. */
  async create(checkpoint: NewCheckpoint): Promise<{ created: boolean; record: CheckpointRecord }> {
    const createdMs = Date.parse(checkpoint.createdAt);
    if (!Number.isFinite(createdMs)) throw new Error(`createdAt "${checkpoint.createdAt}" is not a date`);
    const fields = { ...checkpoint, state: 'pending', sizeBytes: '0', restoreFailures: '0', createdMs: String(createdMs) };
    const created = (await this.redis.eval(
      CREATE,
      3,
      this.keys.record(checkpoint.id),
      this.keys.tenant(checkpoint.tenant),
      this.keys.node(checkpoint.node),
      checkpoint.id,
      String(createdMs),
      ...Object.entries(fields).flat(),
    )) as number;
    const record = await this.get(checkpoint.id);
    if (!record) throw new Error(`checkpoint ${checkpoint.id} vanished after create`);
    return { created: created === 1, record };
  }

  /** The record; with `tenant`, another tenant's checkpoint is not found. */
  async get(id: string, tenant?: string): Promise<CheckpointRecord | undefined> {
    const record = parseRecord(await this.redis.hgetall(this.keys.record(id)));
    return record && (tenant === undefined || record.tenant === tenant) ? record : undefined;
  }

  /** Applies one event in one Lua step (see `applyCheckpointEvent` for the rules). */
  async apply(id: string, event: CheckpointEvent, now = new Date()): Promise<CheckpointTransition> {
    const to = TARGET[event.type];
    const reason = 'reason' in event && event.reason !== undefined ? event.reason : '';
    const sizeBytes = event.type === 'checkpointed' ? String(event.sizeBytes) : '';
    const [outcome, from] = (await this.redis.eval(
      TRANSITION,
      1,
      this.keys.record(id),
      event.type,
      to,
      checkpointStatesBefore(to).join(','),
      String(this.quarantineAfter),
      now.toISOString(),
      reason,
      sizeBytes,
      this.keys.nodePrefix,
    )) as [string, string];
    if (outcome === 'not-found') return { applied: false, why: 'not-found' };
    if (outcome !== 'applied') return { applied: false, why: outcome as 'not-allowed' | 'quarantined', state: from as CheckpointState };
    const record = await this.get(id);
    if (!record) return { applied: false, why: 'not-found' };
    return { applied: true, from: from as CheckpointState, record, quarantined: isQuarantined(record, this.quarantineAfter) };
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
    const flat = (await this.redis.eval(
      LATEST_RESTORABLE,
      1,
      this.keys.restorable(node, key),
      this.keys.record(''),
      String(this.quarantineAfter),
    )) as string[];
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
    return parseRecord(hash);
  }

  /** A tenant's checkpoints, newest first, deleted ones included (their state says so). */
  async listByTenant(tenant: string, opts: { offset?: number; limit?: number } = {}): Promise<CheckpointRecord[]> {
    const offset = opts.offset ?? 0;
    const ids = await this.redis.zrevrange(this.keys.tenant(tenant), offset, offset + (opts.limit ?? 100) - 1);
    return (await this.getMany(ids)).filter((r) => r.tenant === tenant);
  }

  /** Every checkpoint recorded on a node, oldest first (what retention looks at). */
  async listByNode(node: string): Promise<CheckpointRecord[]> {
    return (await this.getMany(await this.redis.zrange(this.keys.node(node), 0, -1))).filter((r) => r.node === node);
  }

  /** Forgets a checkpoint entirely (record and index entries); false when there was none. */
  async remove(id: string): Promise<boolean> {
    return ((await this.redis.eval(REMOVE, 1, this.keys.record(id), id, this.keys.prefix)) as number) === 1;
  }

  private async getMany(ids: string[]): Promise<CheckpointRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.record(id));
    const results = (await pipeline.exec()) ?? [];
    return results.flatMap(([error, hash]) => {
      if (error) throw error;
      const record = parseRecord(hash as Record<string, string>);
      return record ? [record] : [];
    });
  }
}

function parseRecord(hash: Record<string, string>): CheckpointRecord | undefined {
  if (!hash['id']) return undefined;
  const { reason, ...rest } = hashSchema.parse(hash);
  return reason === undefined || reason === '' ? rest : { ...rest, reason };
}
