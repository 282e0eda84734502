import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readSse, readSseEvents, SseParser, type SseItem } from './sse';

/** Parses `text` fed in pieces of `size` characters, so every split point is exercised across sizes. */
function parse(text: string, size = text.length): SseItem[] {
  const parser = new SseParser();
  const items: SseItem[] = [];
  for (let i = 0; i < text.length; i += size) items.push(...parser.feed(text.slice(i, i + size)));
  return [...items, ...parser.end()];
}

const STREAM =
  '\uFEFFretry: 3000\n\n' +
  ': heartbeat\n' +
  'id: 1-0\nevent: phase\ndata: {"a":1}\n\n' +
  'data: first\r\ndata\r\ndata:  two spaces\r\n\r\n' +
  'event: gap\rdata: x\r\r' +
  'id: bad\0id\nid\ndata: y\n\n' +
  'event: orphan\nid: 9-0\n\n' +
  'data: z\n\n' +
  'data: never ended';

const EXPECTED: SseItem[] = [
  { kind: 'retry', ms: 3000 },
  { kind: 'comment', text: 'heartbeat' },
  { kind: 'event', event: { id: '1-0', event: 'phase', data: '{"a":1}' } },
  { kind: 'event', event: { id: '1-0', event: 'message', data: 'first\n\n two spaces' } },
  { kind: 'event', event: { id: '1-0', event: 'gap', data: 'x' } },
  // `id` with a NUL is ignored; a bare `id` resets the last event id.
  { kind: 'event', event: { event: 'message', data: 'y' } },
  // an event with no data is not dispatched, but its id stays the last event id
  { kind: 'event', event: { id: '9-0', event: 'message', data: 'z' } },
];

describe('SSE parser', () => {
  test('fields, comments, retry, multi-line data, id persistence and every line end, split at any point', () => {
    for (let size = 1; size <= STREAM.length; size++) assert.deepEqual(parse(STREAM, size), EXPECTED, `chunks of ${size}`);
  });

  test('a CR ending the stream still ends its line; an event without its blank line is dropped', () => {
    assert.deepEqual(parse(': last\r'), [{ kind: 'comment', text: 'last' }]);
    assert.deepEqual(parse('data: a\n'), []);
  });

  test('a retry that is not a number is ignored, like an unknown field', () => {
    assert.deepEqual(parse('retry: soon\ncolour: red\ndata: d\n\n'), [{ kind: 'event', event: { event: 'message', data: 'd' } }]);
  });

  test('reads a byte stream, multi-byte characters split across chunks included', async () => {
    const bytes = new TextEncoder().encode(': hi\nid: 7\ndata: é€\n\n');
    const chunks = async function* () {
      for (const b of bytes) yield Uint8Array.of(b);
    };
    const items: SseItem[] = [];
    for await (const item of readSse(chunks())) items.push(item);
    assert.deepEqual(items, [
      { kind: 'comment', text: 'hi' },
      { kind: 'event', event: { id: '7', event: 'message', data: 'é€' } },
    ]);
    const events = [];
    for await (const event of readSseEvents(chunks())) events.push(event);
    assert.deepEqual(events, [{ id: '7', event: 'message', data: 'é€' }]);
  });
});
