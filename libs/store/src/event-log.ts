import type { Redis } from 'ioredis';
import { z } from 'zod';
import { Keys } from './keys';
import { appendEvent } from './scripts/event-scripts';

/** What an event is about. A pod's events are its phase changes; the others say what changed on the record. */
export const EVENT_KINDS = ['pod', 'pin', 'pool', 'checkpoint'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * How many events each stream keeps, about (MAXLEN ~ trims whole radix
 * nodes), and how long a pod's stream outlives its last event. The Lua
 * include `appendEvent` applies these numbers; they are written there too.
 */
export const EVENT_BOUNDS = { all: 10_000, tenant: 1_000, pod: 200, podTtlSeconds: 86_400 } as const;

/** `events: false` (WARMPOD_EVENTS=off): nothing is appended; reading finds what was written before, if anything. */
export interface EventLogOptions {
  events?: boolean;
}

/** Whose events a follower reads: every tenant's (operators), one tenant's, or one pod's. */
export type EventScope = { kind: 'all' } | { kind: 'tenant'; tenant: string } | { kind: 'pod'; tenant: string; podId: string };

/** One stored event; `id` is the same in every stream that holds it. */
export interface StoredEvent {
  id: string;
  tenant: string;
  kind: EventKind;
  /** The pod, pin, pool or checkpoint id. */
  resource: string;
  data: Record<string, unknown>;
}

/** Where a `Last-Event-ID` stands for a scope. */
export type ResumePoint =
  /** An event of this scope still kept: resume right after it. */
  | 'kept'
  /** Of this scope (or no longer known anywhere) but trimmed: resume from the oldest kept, some events were missed. */
  | 'trimmed'
  /** An event of another tenant or pod. */
  | 'foreign'
  /** Newer than any event written. */
  | 'future';

const EVENT_ID = /^(\d{1,15})-(\d{1,15})$/;

/** A stream entry id as Redis makes them (`<ms>-<seq>`). */
export function isEventId(text: string): boolean {
  return EVENT_ID.test(text);
}

/** Orders two event ids (negative: a is older). */
export function compareEventIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

const entrySchema = z
  .object({
    tenant: z.string().min(1),
    kind: z.enum(EVENT_KINDS),
    resource: z.string().min(1),
    data: z.string().transform((text, ctx) => {
      try {
        const parsed = z.record(z.string(), z.unknown()).safeParse(JSON.parse(text));
        if (parsed.success) return parsed.data;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'data is not a JSON object' });
      return z.NEVER;
    }),
  })
  .strict();

type RawEntry = [id: string, fields: string[]];

/**
 * What one read of a stream found: the events, the ids of entries this code
 * did not write (skipped), and where the next read starts (`lastId`: the last
 * entry read, skipped or not, else the read's own `afterId`). A reader that
 * went on from its last event's id instead would read a skipped entry again
 * and again, at once, for ever.
 */
export interface EventBatch {
  events: StoredEvent[];
  skipped: string[];
  lastId: string;
}

/** A stream entry as an event; undefined (skipped) for one this code did not write. */
function decodeEntry([id, fields]: RawEntry): StoredEvent | undefined {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
  const parsed = entrySchema.safeParse(record);
  return parsed.success ? { id, ...parsed.data } : undefined;
}

/** Whether an event belongs to a scope (what a follower of that scope may see). */
export function inScope(event: StoredEvent, scope: EventScope): boolean {
  if (scope.kind === 'all') return true;
  if (event.tenant !== scope.tenant) return false;
  return scope.kind === 'tenant' || event.resource === scope.podId || event.data['pod'] === scope.podId;
}

/**
 * The event log: Redis Streams written where the state changes (the pod
 * scripts append a pod's phase changes in the same Lua step; `append` is
 * for pins, pools and checkpoints), read by the gateway's SSE endpoints.
 * Every event is in the all-events stream and its tenant's, under one id;
 * a pod's also in the pod's stream. Each stream is bounded (EVENT_BOUNDS).
 * Switched off (EventLogOptions), it appends nothing: the pod scripts get ''
 * for the all-events stream (`podEventArgs`) and `append` returns at once.
 */
export class EventLog {
  private readonly keys: Keys;
  readonly enabled: boolean;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: EventLogOptions = {},
  ) {
    this.keys = new Keys(prefix);
    this.enabled = opts.events ?? true;
  }

  /**
   * Where the pod scripts append a pod's events: the all-events stream ('':
   * the log is off, they append nothing) and the stems of the tenant's and the pod's streams.
   */
  podEventArgs(): { allEvents: string; tenantEventsStem: string; podEventsStem: string } {
    return {
      allEvents: this.enabled ? this.keys.allEvents() : '',
      tenantEventsStem: this.keys.tenantEventsStem(),
      podEventsStem: this.keys.podEventsStem(),
    };
  }

  /**
   * Appends an event of a pin, pool or checkpoint; `podId` also puts it on
   * that pod's stream. Returns its id; undefined when the log is off.
   */
  async append(
    tenant: string,
    kind: Exclude<EventKind, 'pod'>,
    resource: string,
    data: Record<string, unknown>,
    podId?: string,
  ): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    return appendEvent.run(
      this.redis,
      { allEvents: this.keys.allEvents(), tenantEvents: this.keys.tenantEvents(tenant) },
      { tenant, kind, resource, podEvents: podId ? this.keys.podEvents(podId) : '', data: JSON.stringify(data) },
    );
  }

  streamOf(scope: EventScope): string {
    if (scope.kind === 'all') return this.keys.allEvents();
    return scope.kind === 'tenant' ? this.keys.tenantEvents(scope.tenant) : this.keys.podEvents(scope.podId);
  }

  /** Up to `count` entries after `afterId` ('0-0': from the oldest kept), oldest first; a full batch may hold fewer events. */
  async after(scope: EventScope, afterId: string, count: number): Promise<EventBatch> {
    const entries = (await this.redis.xrange(this.streamOf(scope), `(${afterId}`, '+', 'COUNT', count)) as RawEntry[];
    return decodeBatch(entries, afterId);
  }

  /**
   * Waits up to `blockMs` for events after `afterId` on `connection` (a
   * blocking read: give each follower a connection of its own); [] when
   * none came (no events, no skipped entries, `lastId` = `afterId`).
   */
  async follow(connection: Redis, scope: EventScope, afterId: string, blockMs: number, count: number): Promise<EventBatch> {
    const reply = (await connection.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.streamOf(scope), afterId)) as Array<
      [string, RawEntry[]]
    > | null;
    return decodeBatch(reply?.[0]?.[1] ?? [], afterId);
  }

  /** The newest event id of a scope, '0-0' when it has none. */
  async latestId(scope: EventScope): Promise<string> {
    const [newest] = (await this.redis.xrevrange(this.streamOf(scope), '+', '-', 'COUNT', 1)) as RawEntry[];
    return newest?.[0] ?? '0-0';
  }

  /** Where a follower of `scope` that last saw `id` stands (see ResumePoint). */
  async locate(scope: EventScope, id: string): Promise<ResumePoint> {
    const [own] = (await this.redis.xrange(this.streamOf(scope), id, id)) as RawEntry[];
    if (own) return 'kept';
    const [anywhere] = (await this.redis.xrange(this.keys.allEvents(), id, id)) as RawEntry[];
    if (anywhere) {
      const event = decodeEntry(anywhere);
      return event && inScope(event, scope) ? 'trimmed' : 'foreign';
    }
    return compareEventIds(id, await this.latestId({ kind: 'all' })) > 0 ? 'future' : 'trimmed';
  }
}

function decodeBatch(entries: RawEntry[], afterId: string): EventBatch {
  const batch: EventBatch = { events: [], skipped: [], lastId: entries[entries.length - 1]?.[0] ?? afterId };
  for (const entry of entries) {
    const event = decodeEntry(entry);
    if (event) batch.events.push(event);
    else batch.skipped.push(entry[0]);
  }
  return batch;
}
