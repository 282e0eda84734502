import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { HeldBlob } from '@warmpod/node-runtime';

/** `/blobs/sha256:<hex>`: the only shape of a blob path peers may ask for. */
export const BLOB_PATH = /^\/blobs\/(sha256:[a-f0-9]{64})$/;

/** The byte range a `Range` header asks for within `size` bytes; undefined: the whole blob; 'invalid': unsatisfiable. */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  if (m[1] === '') {
    // A suffix: the last n bytes.
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'invalid' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? 'invalid' : { start, end };
}

export type ServeOutcome = 'complete' | 'aborted' | 'busy';

/**
 * Uploads to peers running at once (NODE_PEER_SERVE_CONCURRENCY): a node's
 * disk and uplink serve its own pods first; a peer turned away asks another
 * holder or the registry at once instead of queueing here.
 */
export class UploadSlots {
  private busy = 0;

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.busy;
  }

  /** False when every slot is taken. */
  take(): boolean {
    if (this.busy >= this.max) return false;
    this.busy++;
    return true;
  }

  give(): void {
    this.busy = Math.max(0, this.busy - 1);
  }
}

/** Where a blob request is answered from, and what it reports. */
export interface BlobServerPorts {
  held(digest: string): Promise<HeldBlob | undefined>;
  served?(bytes: number, outcome: ServeOutcome): void;
  /** The cap on concurrent uploads; without it, no cap. */
  slots?: UploadSlots;
}

/**
 * Serves a verified image blob the node holds to a peer node (access was
 * checked before): by digest only, 404 for anything the cache does not list
 * as an image's config or layer. Streams the file with backpressure
 * (`pipeline`); a single `Range` is honoured (206). The file is opened
 * before the answer starts, so a garbage collection meanwhile cannot cut it.
 * Beyond the upload cap a peer gets 503 at once and asks another source.
 */
export async function serveBlob(req: IncomingMessage, res: ServerResponse, digest: string, ports: BlobServerPorts): Promise<void> {
  const slots = ports.slots;
  if (slots && !slots.take()) {
    res
      .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' })
      .end(`this node is serving ${slots.max} blobs to peers already (NODE_PEER_SERVE_CONCURRENCY): ask another source\n`);
    ports.served?.(0, 'busy');
    return;
  }
  try {
    await serveHeld(req, res, digest, ports);
  } finally {
    slots?.give();
  }
}

async function serveHeld(req: IncomingMessage, res: ServerResponse, digest: string, ports: BlobServerPorts): Promise<void> {
  const blob = await ports.held(digest);
  if (!blob) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`this node holds no image blob ${digest}\n`);
    return;
  }
  const range = byteRange(req.headers.range, blob.size);
  if (range === 'invalid') {
    res.writeHead(416, { 'content-range': `bytes */${blob.size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: blob.size - 1 };
  const length = blob.size === 0 ? 0 : end - start + 1;
  const file = createReadStream(blob.path, blob.size === 0 ? {} : { start, end });
  try {
    await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`blob ${digest} is no longer on this node\n`);
    return;
  }
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
  };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${blob.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    file.destroy();
    res.end();
    return;
  }
  try {
    await pipeline(file, res);
    ports.served?.(length, 'complete');
  } catch {
    // The peer went away (or the disk failed): it falls back on its side.
    ports.served?.(0, 'aborted');
  }
}
