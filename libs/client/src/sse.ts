/**
 * A Server-Sent Events reader for warmpod's event streams (`GET /v1/events`,
 * `GET /v1/pods/{id}/events`), parsing as the HTML spec's EventSource does:
 * fields `id`, `event`, `data` (several lines join with "\n"), `retry`;
 * comments; LF, CRLF or CR line ends, split anywhere across chunks. It has no
 * dependency beyond the platform, so a CLI or a page can use it without BullMQ.
 * Resuming is the caller's: send the last event's `id` as `Last-Event-ID`.
 */

/** One dispatched event; `id` is the stream's last event id at that point (EventSource's `lastEventId`). */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** What a stream carries: events, comments (the gateway's heartbeats) and reconnection delays. */
export type SseItem = { kind: 'event'; event: SseEvent } | { kind: 'comment'; text: string } | { kind: 'retry'; ms: number };

/** Incremental parser: feed it decoded text in any chunks, get back what each chunk completed. */
export class SseParser {
  private buffer = '';
  private started = false;
  private lastEventId = '';
  private eventType = '';
  private data: string[] = [];

  feed(text: string): SseItem[] {
    this.buffer += text;
    if (!this.started && this.buffer.length > 0) {
      this.started = true;
      if (this.buffer.startsWith('\uFEFF')) this.buffer = this.buffer.slice(1);
    }
    const items: SseItem[] = [];
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) break;
      // A CR as the last character may be the first half of a CRLF still on its way.
      if (this.buffer[end] === '\r' && end === this.buffer.length - 1) break;
      const skip = this.buffer.startsWith('\r\n', end) ? 2 : 1;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + skip);
      const item = this.line(line);
      if (item) items.push(item);
    }
    return items;
  }

  /** The stream ended: a lone CR still held ends its line; an event not closed by a blank line is dropped (as the spec says). */
  end(): SseItem[] {
    const items = this.buffer.endsWith('\r') ? this.feed('\n') : [];
    this.buffer = '';
    this.eventType = '';
    this.data = [];
    return items;
  }

  private line(line: string): SseItem | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return { kind: 'comment', text: line.slice(1).replace(/^ /, '') };
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventType = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) return { kind: 'retry', ms: Number(value) };
    return undefined;
  }

  private dispatch(): SseItem | undefined {
    const data = this.data;
    const type = this.eventType;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return undefined;
    const event: SseEvent = { event: type || 'message', data: data.join('\n') };
    if (this.lastEventId !== '') event.id = this.lastEventId;
    return { kind: 'event', event };
  }
}

/** Everything a response body carries, in order, until it ends. */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseItem> {
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.feed(decoder.decode(chunk, { stream: true }));
  yield* parser.feed(decoder.decode());
  yield* parser.end();
}

/** Only the events of a response body (comments and `retry` skipped). */
export async function* readSseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  for await (const item of readSse(body)) if (item.kind === 'event') yield item.event;
}
