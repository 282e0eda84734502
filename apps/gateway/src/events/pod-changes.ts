import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { EventLog, slug } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { CONFIG, LOGGER, REDIS } from '../providers';
import { SkippedEntries } from './skipped-entries';

/** Each blocking read of the all-events stream waits at most this long, so a stop is never held up longer. */
const BLOCK_MS = 2_000;
/** Events read per round trip. */
const BATCH = 500;
/** After a read failed (Redis away), the follower tries again after this long; waiters meanwhile re-read on their own. */
const RETRY_MS = 1_000;

/** How long a woken-by-events waiter sleeps at most before it re-reads its pod anyway (a missed event costs this). */
export const SAFETY_REREAD_MS = 1_000;

/** A registered interest in one pod's next change. */
export interface PodChangeWatch {
  /** Resolves when an event of the pod came after `watch` was called, after `ms`, or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  /** Drops the interest (the waiter is done). */
  close(): void;
}

/**
 * What lets a waiter (`GET /v1/pods/{id}?wait=Ready`, a queue-door run-pod
 * job) sleep until its pod changes instead of re-reading it on a short
 * timer: one blocking read of the all-events stream per gateway, on a
 * connection of its own, fanned out by pod id. A waiter registers
 * (`watch`) before it reads the pod, so a change after that read always
 * wakes it; a wake is only a hint to re-read the record, which stays the
 * truth. Waiters still re-read on their own timer (a bound on any missed
 * event, e.g. while Redis was away), and only on it when the event log is
 * off (WARMPOD_EVENTS=off): then this reads nothing.
 */
@Injectable()
export class PodChanges implements OnModuleInit, OnModuleDestroy {
  private readonly log: EventLog;
  private readonly waiters = new Map<string, Set<() => void>>();
  private connection?: Redis;
  private following?: Promise<void>;
  private stopped = false;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly skipped: SkippedEntries,
  ) {
    this.log = new EventLog(redis, config.prefix);
  }

  /** Whether waiters are woken by events (else they only re-read on their timer). */
  get live(): boolean {
    return this.config.observability.events;
  }

  onModuleInit(): void {
    if (!this.live) return;
    // Named with the prefix, so CLIENT LIST tells one deployment's follower from another's on a shared Redis.
    const connection = this.redis.duplicate({ connectionName: followerName('pod-changes', this.config.prefix) });
    connection.on('error', () => undefined); // the follow loop reports it
    this.connection = connection;
    this.following = this.follow(connection);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.connection?.disconnect();
    await this.following;
    for (const wakes of this.waiters.values()) for (const wake of wakes) wake();
    this.waiters.clear();
  }

  watch(podId: string): PodChangeWatch {
    let changed = false;
    let wake: (() => void) | undefined;
    const onEvent = (): void => {
      changed = true;
      wake?.();
    };
    const set = this.waiters.get(podId) ?? new Set();
    set.add(onEvent);
    this.waiters.set(podId, set);
    const close = (): void => {
      set.delete(onEvent);
      if (set.size === 0 && this.waiters.get(podId) === set) this.waiters.delete(podId);
    };
    const next = async (ms: number, signal?: AbortSignal): Promise<void> => {
      if (changed || signal?.aborted) {
        changed = false;
        return;
      }
      const timer = new AbortController();
      const stop = () => timer.abort();
      signal?.addEventListener('abort', stop, { once: true });
      wake = stop;
      await sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined);
      wake = undefined;
      signal?.removeEventListener('abort', stop);
      changed = false;
    };
    return { next, close };
  }

  private async follow(connection: Redis): Promise<void> {
    let last: string | undefined;
    let failing = false;
    while (!this.stopped) {
      try {
        last ??= await this.log.latestId({ kind: 'all' });
        const batch = await this.log.follow(connection, { kind: 'all' }, last, BLOCK_MS, BATCH);
        if (failing) this.logger.info('pod change follower: reading events again');
        failing = false;
        // Past every entry read, skipped ones too: from an event's id, a skipped entry would be read again at once, for ever.
        last = batch.lastId;
        this.skipped.report(batch.skipped, this.log.streamOf({ kind: 'all' }), 'pod-changes');
        for (const event of batch.events) {
          const podId = event.kind === 'pod' ? event.resource : undefined;
          for (const wake of (podId && this.waiters.get(podId)) || []) wake();
        }
      } catch (error) {
        if (this.stopped) return;
        // Once per outage, not once per retry.
        if (!failing)
          this.logger.warn({ err: messageOf(error) }, 'pod change follower: read failed; waiters re-read on their timer meanwhile');
        failing = true;
        await sleep(RETRY_MS);
      }
    }
  }
}

/** The name of a follower's own connection (CLIENT LIST): what it follows, and whose (the deployment's prefix). */
export function followerName(reader: 'pod-changes' | 'event-stream', prefix: string): string {
  return `gateway-${reader}-${slug(prefix)}`;
}
