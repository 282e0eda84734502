import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { QuotaValues } from '@warmpod/domain';
import { EventLog, type EventLogOptions } from './event-log';
import { Keys } from './keys';
import { createPin, removePin } from './scripts/pin-scripts';
import type { OverQuota } from './tenant-quotas';

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

/** The active pin after a create, and whether this create made it. */
export interface CreatedPin {
  pin: PinRecord;
  created: boolean;
  superseded?: string;
}
export type StoredPin = CreatedPin & { kind: 'stored' };

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

/** Pins per tenant; the one active pin per reference; superseded pins kept while nodes rotate. */
export class PinRepository {
  private readonly keys: Keys;
  private readonly events: EventLog;

  /** `opts.events: false`: no event is appended (WARMPOD_EVENTS=off). */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: EventLogOptions = {},
  ) {
    this.keys = new Keys(prefix);
    this.events = new EventLog(redis, prefix, opts);
  }

  get changesChannel(): string {
    return this.keys.pinsChanged();
  }

  /** Creates a pin, superseding the active one of the same reference; returns the active pin. Not charged (a pool's pin: the pool's size is). */
  async create(pin: NewPin): Promise<CreatedPin> {
    const outcome = await this.store(pin, '');
    if (outcome.kind === 'over-quota') throw new Error('an uncharged pin was refused by a quota');
    return outcome;
  }

  /**
   * Like `create`, and charges the pin to its tenant's pin quotas (`bytes`: what it makes a node hold)
   * in the same step; over one, nothing is written. The pin it supersedes no longer counts.
   */
  async createCharged(pin: NewPin, limits: QuotaValues, bytes: number): Promise<StoredPin | OverQuota> {
    return this.store(pin, `${limits.pins} ${limits.pinBytes} ${bytes}`);
  }

  private async store(pin: NewPin, quota: string): Promise<StoredPin | OverQuota> {
    const outcome = await createPin.run(this.redis, this.indexKeys(pin), {
      id: pin.id,
      json: JSON.stringify(pin),
      createdMs: Date.parse(pin.createdAt),
      refField: refField(pin.tenant, pin.reference),
      digest: pin.digest,
      pinStem: this.keys.pinStem(),
      channel: this.keys.pinsChanged(),
      quota,
    });
    if (outcome.kind === 'over-quota') return outcome;
    const active = await this.get(outcome.kind === 'existing' ? outcome.activeId : pin.id);
    if (!active) throw new Error(`active pin ${outcome.kind === 'existing' ? outcome.activeId : pin.id} vanished`);
    if (outcome.kind === 'existing') return { kind: 'stored', pin: active, created: false };
    await this.events.append(pin.tenant, 'pin', pin.id, { state: 'active', reference: pin.reference, digest: pin.digest });
    if (outcome.superseded) await this.events.append(pin.tenant, 'pin', outcome.superseded, { state: 'superseded', supersededBy: pin.id });
    return { kind: 'stored', pin: active, created: true, ...(outcome.superseded ? { superseded: outcome.superseded } : {}) };
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
    const removed = await removePin.run(this.redis, this.indexKeys(pin), {
      id: pin.id,
      refField: refField(pin.tenant, pin.reference),
      channel: this.keys.pinsChanged(),
    });
    if (removed) await this.events.append(pin.tenant, 'pin', pin.id, { state: 'removed' });
    return removed;
  }

  private indexKeys(pin: Pick<PinRecord, 'id' | 'tenant'>) {
    return {
      pin: this.keys.pin(pin.id),
      tenantPins: this.keys.tenantPins(pin.tenant),
      activePins: this.keys.activePins(),
      supersededPins: this.keys.supersededPins(),
    };
  }

  private async load(ids: string[]): Promise<PinRecord[]> {
    const pins = await Promise.all(ids.map((id) => this.get(id)));
    return pins.filter((p): p is PinRecord => p !== undefined);
  }
}

function refField(tenant: string, reference: string): string {
  return `${tenant} ${reference}`;
}
