import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { messageOf, type Logger } from '@warmpod/observability';
import { EventLog, type EventBatch, type EventScope, type StoredEvent } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { CONFIG, LOGGER, REDIS } from '../providers';
import { followerName } from './pod-changes';
import { resumePoint } from './resume-point';
import { SkippedEntries } from './skipped-entries';
import { StreamSlots } from './stream-slots';

/** Events read per Redis call, backlog and live alike. */
const BATCH = 100;
/** What EventSource waits before reconnecting (sent once as `retry:`). */
const RETRY_MS = 2_000;

/** One event as SSE: its id (what `Last-Event-ID` resumes from), its kind as the event name, the rest as JSON. */
export function formatEvent(event: StoredEvent): string {
  const data = { kind: event.kind, resource: event.resource, tenant: event.tenant, ...event.data };
  return `id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Serves event streams: validates the resume point and takes a slot before
 * answering (so a 400 or 429 is a plain JSON error), then writes the kept
 * backlog and follows the stream with a blocking read on a connection of
 * its own, a heartbeat comment whenever a read comes back empty. Ends when
 * the client goes, on a Redis error (the client resumes with
 * Last-Event-ID) or at shutdown.
 */
@Injectable()
export class EventStreams implements OnModuleDestroy {
  private readonly log: EventLog;
  private readonly slots: StreamSlots;
  private readonly open = new Set<() => void>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly skipped: SkippedEntries,
  ) {
    this.log = new EventLog(redis, config.prefix);
    this.slots = new StreamSlots(config.events.maxStreamsPerTenant);
  }

  async serve(tenant: string, scope: EventScope, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const start = await resumePoint(this.log, scope, request.headers['last-event-id']);
    const release = this.slots.take(tenant);
    if (!release) {
      const max = this.config.events.maxStreamsPerTenant;
      throw new ApiError(429, 'too_many_streams', `this tenant already has ${max} open event streams on this gateway (the limit)`);
    }
    const connection = this.redis.duplicate({ connectionName: followerName('event-stream', this.config.prefix) });
    connection.on('error', () => undefined); // the follow loop reports it
    let closed = false;
    const end = () => {
      if (closed) return;
      closed = true;
      release();
      this.open.delete(end);
      connection.disconnect();
      reply.raw.end();
    };
    this.open.add(end);
    // The response's close: the client went away (or the stream ended); the request's may come as soon as it is read.
    reply.raw.on('close', end);
    void reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    reply.raw.write(`retry: ${RETRY_MS}\n\n`);
    if (start.gap)
      reply.raw.write(
        `event: gap\ndata: ${JSON.stringify({ message: 'events after Last-Event-ID were trimmed from the backlog; replaying what is kept' })}\n\n`,
      );
    try {
      let last = start.afterId;
      const stream = this.log.streamOf(scope);
      for (;;) {
        const backlog = await this.log.after(scope, last, BATCH);
        last = this.write(backlog, stream, closed, reply);
        if (backlog.events.length + backlog.skipped.length < BATCH || closed) break;
      }
      while (!closed) {
        const batch = await this.log.follow(connection, scope, last, this.config.events.heartbeatMs, BATCH);
        if (closed) break;
        if (batch.events.length === 0) reply.raw.write(': heartbeat\n\n');
        last = this.write(batch, stream, closed, reply);
      }
    } catch (error) {
      if (!closed) this.logger.warn({ err: messageOf(error) }, 'event stream ended by an error; the client resumes with Last-Event-ID');
    } finally {
      end();
    }
  }

  /** Writes a batch's events; returns where the next read starts: past every entry read, skipped ones too (else they are read again at once, for ever). */
  private write(batch: EventBatch, stream: string, closed: boolean, reply: FastifyReply): string {
    this.skipped.report(batch.skipped, stream, 'event-stream');
    if (!closed) for (const event of batch.events) reply.raw.write(formatEvent(event));
    return batch.lastId;
  }

  /** Open streams end before the HTTP server closes, or it would wait for them. */
  onModuleDestroy(): void {
    for (const end of [...this.open]) end();
  }
}
