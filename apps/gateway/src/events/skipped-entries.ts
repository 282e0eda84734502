import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@warmpod/observability';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { LOGGER } from '../providers';

/** Which follower met the entry: the pod change follower or an SSE stream. */
export type EventReader = 'pod-changes' | 'event-stream';

/** Entry ids remembered as reported; beyond this the oldest are forgotten (a flood of them is still bounded in memory). */
const REMEMBERED = 1_000;

/**
 * Ids seen before, in a bounded window: what makes "report once" hold
 * across readers (every SSE stream of a scope meets the same entry).
 */
export class SeenIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number = REMEMBERED) {}

  /** True the first time an id is given (within the window), false after. */
  first(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // A Set iterates in insertion order: the first is the oldest.
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
}

/**
 * Event stream entries the gateway's followers skip (written by something
 * else than warmpod's event log, or malformed): each is counted
 * (`warmpod_event_entries_skipped_total`) and logged with its id, once per
 * gateway, however many followers meet it. The followers go on after it.
 */
@Injectable()
export class SkippedEntries {
  private readonly seen = new SeenIds();

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  report(ids: readonly string[], stream: string, reader: EventReader): void {
    for (const id of ids) {
      if (!this.seen.first(id)) continue;
      this.metrics.eventEntrySkipped(reader);
      this.logger.warn({ entry: id, stream, reader }, 'event follower: skipped a stream entry that is not a warmpod event');
    }
  }
}
