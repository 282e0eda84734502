import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomSuffix } from '../files';
import { BlobUnavailableError, BlobVerificationError } from './blob-source';

export interface VerifiedStreamOptions {
  digest: string;
  size: number;
  destination: string;
  onBytes(n: number): void;
  /** Window the sender is judged over: no bytes (or fewer than `minBytesPerSecond` asks) within it and it is cut off. */
  stallMs: number;
  /** A sender slower than this over a whole window is cut off as well (0: only a stall counts). */
  minBytesPerSecond?: number;
  /** Where the bytes come from, for errors. */
  from: string;
}

/**
 * Streams `body` into `destination`, hashing and counting on the way (one
 * pass, backpressure kept by `pipeline`), and renames the file into place
 * only when size and sha256 match. On any failure the partial file is gone
 * and the counted bytes are given back: a wrong blob throws
 * `BlobVerificationError`, a stall or a broken stream `BlobUnavailableError`.
 */
export async function streamVerified(body: Readable, o: VerifiedStreamOptions): Promise<void> {
  const hash = createHash('sha256');
  let seen = 0;
  let counted = 0;
  let stalled: string | undefined;
  // Judged per window, not per chunk: a trickle of bytes does not keep a slow sender alive.
  const windowBytes = Math.max(1, Math.floor(((o.minBytesPerSecond ?? 0) * o.stallMs) / 1000));
  let inWindow = 0;
  const timer = setInterval(() => {
    if (inWindow < windowBytes && seen < o.size) {
      stalled = inWindow === 0 ? `no bytes for ${o.stallMs} ms` : `${inWindow} bytes in ${o.stallMs} ms, too slow`;
      body.destroy(new Error(stalled));
    }
    inWindow = 0;
  }, o.stallMs);
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inWindow += chunk.length;
      seen += chunk.length;
      if (seen > o.size) return done(new BlobVerificationError(`${o.from} sent more than the ${o.size} bytes of ${o.digest}`));
      hash.update(chunk);
      counted += chunk.length;
      o.onBytes(chunk.length);
      done(null, chunk);
    },
  });
  const partial = `${o.destination}.partial-${randomSuffix()}`;
  try {
    await pipeline(body, meter, createWriteStream(partial, { mode: 0o600 }));
    clearInterval(timer);
    if (seen !== o.size) throw new BlobVerificationError(`${o.from} sent ${seen} bytes of ${o.digest}, the manifest says ${o.size}`);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== o.digest) throw new BlobVerificationError(`${o.from} sent bytes hashing to ${got}, not ${o.digest}`);
    await rename(partial, o.destination);
  } catch (error) {
    clearInterval(timer);
    await rm(partial, { force: true });
    if (counted > 0) o.onBytes(-counted);
    if (error instanceof BlobVerificationError) throw error;
    const why = stalled ?? (error instanceof Error ? error.message : String(error));
    throw new BlobUnavailableError(`${o.from} did not deliver ${o.digest}: ${why}`, { cause: error });
  }
}
