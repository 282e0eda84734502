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
  /** Longest wait for the next bytes: a stalled sender is cut off after this long. */
  stallMs: number;
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
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      body.destroy(new Error(`no bytes for ${o.stallMs} ms`));
    }, o.stallMs);
  };
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      arm();
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
    arm();
    await pipeline(body, meter, createWriteStream(partial, { mode: 0o600 }));
    clearTimeout(timer);
    if (seen !== o.size) throw new BlobVerificationError(`${o.from} sent ${seen} bytes of ${o.digest}, the manifest says ${o.size}`);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== o.digest) throw new BlobVerificationError(`${o.from} sent bytes hashing to ${got}, not ${o.digest}`);
    await rename(partial, o.destination);
  } catch (error) {
    clearTimeout(timer);
    await rm(partial, { force: true });
    if (counted > 0) o.onBytes(-counted);
    if (error instanceof BlobVerificationError) throw error;
    const why = stalled ? `stalled (no bytes for ${o.stallMs} ms)` : error instanceof Error ? error.message : String(error);
    throw new BlobUnavailableError(`${o.from} did not deliver ${o.digest}: ${why}`, { cause: error });
  }
}
