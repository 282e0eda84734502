/**
 * Test support: an SSE connection over fetch with the bearer token, reading
 * with `@warmpod/client`'s parser, recording what arrives and waiting on it;
 * `lastEventId` is what a resume sends as `Last-Event-ID`.
 */
import { readSse, type SseEvent } from '@warmpod/client';

export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  lastEventId?: string;
  private readonly abort = new AbortController();
  private waiters: Array<() => void> = [];
  private ended = false;

  /** Opens a stream; a non-200 answer is returned with its JSON body and no stream. */
  static async open(url: string, token: string, lastEventId?: string): Promise<{ client: SseClient; status: number; body?: unknown }> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const client = new SseClient();
    const res = await fetch(url, { headers, signal: client.abort.signal });
    if (res.status !== 200 || !res.body) return { client, status: res.status, body: await res.json() };
    if (lastEventId !== undefined) client.lastEventId = lastEventId;
    void client.read(res.body);
    return { client, status: 200 };
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const item of readSse(body)) {
        if (item.kind === 'comment') this.comments++;
        else if (item.kind === 'event') {
          this.events.push(item.event);
          if (item.event.id !== undefined) this.lastEventId = item.event.id;
        }
        this.wake();
      }
    } catch {
      // aborted, or the server went away
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits (deadline) until `check` holds over what arrived. */
  async until(what: string, check: (c: SseClient) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (this.ended) throw new Error(`stream ended before: ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for: ${what} (got ${JSON.stringify(this.events)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Drops the connection, as a network failure would. */
  close(): void {
    this.abort.abort();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Each event's data parsed as JSON. */
  data(): Array<Record<string, unknown>> {
    return this.events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }
}
