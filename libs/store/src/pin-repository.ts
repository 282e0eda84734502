import type { Redis } from 'ioredis';
import { z } from 'zod';
import { Keys } from './keys';

/** A reference pinned for warming: the digest it resolved to, and where it should be. */
export interface PinRecord {
  id: string;
  tenant: string;
  /** As the client sent it. */
  requested: string;
  /** Normalised `registry/repository:tag` (or `@digest`): re-pinning it supersedes the older pin. */
  reference: string;
  pinned: string;
  digest: string;
  nodeSelector: Record<string, string>;
  createdAt: string;
  state: 'active' | 'superseded';
  supersedes?: string;
  supersededBy?: string;
}

export type NewPin = Omit<PinRecord, 'state' | 'supersedes' | 'supersededBy'>;

const recordSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  requested: z.string(),
  reference: z.string(),
  pinned: z.string(),
  digest: z.string(),
  nodeSelector: z.record(z.string(), z.string()),
  createdAt: z.string(),
});

/**
 * KEYS: newPin, tenantPins, activePins, supersededPins.
 * ARGV: id, json, createdMs, refField, digest, pinKeyPrefix, channel.
 * The same reference pinned again at the same digest returns the active pin;
 * at a new digest, the new pin becomes active and the old one superseded.
 */
const CREATE_PIN = `
local current = redis.call('HGET', KEYS[3], ARGV[4])
if current then
  local old = ARGV[6] .. current
  if redis.call('HGET', old, 'digest') == ARGV[5] then return {'existing', current} end
  redis.call('HSET', old, 'state', 'superseded', 'supersededBy', ARGV[1])
  redis.call('SADD', KEYS[4], current)
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'digest', ARGV[5], 'state', 'active')
if current then redis.call('HSET', KEYS[1], 'supersedes', current) end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[1])
if current then redis.call('PUBLISH', ARGV[7], current) end
return {'created', current or ''}
`;

/** KEYS: pin, tenantPins, activePins, supersededPins. ARGV: id, refField, channel. */
const REMOVE_PIN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

/** Pins per tenant; the one active pin per reference; superseded pins kept while nodes rotate. */
export class PinRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  get changesChannel(): string {
    return this.keys.pinsChanged();
  }

  /** Creates a pin, superseding the active one of the same reference; returns the active pin. */
  async create(pin: NewPin): Promise<{ pin: PinRecord; created: boolean; superseded?: string }> {
    const [outcome, other] = (await this.redis.eval(
      CREATE_PIN,
      4,
      this.keys.pin(pin.id),
      this.keys.tenantPins(pin.tenant),
      this.keys.activePins(),
      this.keys.supersededPins(),
      pin.id,
      JSON.stringify(pin),
      String(Date.parse(pin.createdAt)),
      refField(pin.tenant, pin.reference),
      pin.digest,
      this.keys.pin(''),
      this.keys.pinsChanged(),
    )) as [string, string];
    if (outcome === 'existing') {
      const existing = await this.get(other);
      if (!existing) throw new Error(`active pin ${other} vanished`);
      return { pin: existing, created: false };
    }
    return { pin: (await this.get(pin.id))!, created: true, ...(other ? { superseded: other } : {}) };
  }

  async get(id: string): Promise<PinRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.pin(id));
    if (!raw['json']) return undefined;
    const def = recordSchema.parse(JSON.parse(raw['json']));
    return {
      ...def,
      state: raw['state'] === 'superseded' ? 'superseded' : 'active',
      ...(raw['supersedes'] ? { supersedes: raw['supersedes'] } : {}),
      ...(raw['supersededBy'] ? { supersededBy: raw['supersededBy'] } : {}),
    };
  }

  async listByTenant(tenant: string): Promise<PinRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.tenantPins(tenant), 0, 999);
    return this.load(ids);
  }

  /** Every active pin of every tenant: what the prepuller warms. */
  async listActive(): Promise<PinRecord[]> {
    return this.load(Object.values(await this.redis.hgetall(this.keys.activePins())));
  }

  /** Superseded pins still kept: their digests stay on nodes until the successor is ready there. */
  async listSuperseded(): Promise<PinRecord[]> {
    return this.load(await this.redis.smembers(this.keys.supersededPins()));
  }

  async remove(pin: Pick<PinRecord, 'id' | 'tenant' | 'reference'>): Promise<boolean> {
    const result = (await this.redis.eval(
      REMOVE_PIN,
      4,
      this.keys.pin(pin.id),
      this.keys.tenantPins(pin.tenant),
      this.keys.activePins(),
      this.keys.supersededPins(),
      pin.id,
      refField(pin.tenant, pin.reference),
      this.keys.pinsChanged(),
    )) as number;
    return result === 1;
  }

  private async load(ids: string[]): Promise<PinRecord[]> {
    const pins = await Promise.all(ids.map((id) => this.get(id)));
    return pins.filter((p): p is PinRecord => p !== undefined);
  }
}

function refField(tenant: string, reference: string): string {
  return `${tenant} ${reference}`;
}
