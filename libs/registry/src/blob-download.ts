import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError, statusError } from './errors';

/**
 * One blob GET into a file: plain data, so a worker thread can run it (see
 * downloadInThread). This file and errors.ts are all such a worker loads.
 */
export interface BlobDownloadJob {
  /** The blob's URL at the registry (`<base>/v2/<repository>/blobs/<digest>`). */
  url: string;
  /** The registry's host, for errors. */
  registry: string;
  /** What the blob is, for errors ("blob sha256:abc of repo"). */
  what: string;
  digest: string;
  size: number;
  destination: string;
  /** No byte for this long (headers or body) and the download fails as unavailable. */
  idleMs: number;
}

/** Registries may hand a blob GET off to blob storage (307/302...): followed this many times at most. */
export const MAX_BLOB_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Why no response came: the socket error's code, or `TimeoutError` (the wording `fetch` used). */
export class NoAnswer extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/**
 * GETs `url` with `node:http(s)` rather than `fetch`: a blob body then
 * streams as plain Buffers, without the web-stream layer that cost about
 * twice the CPU per byte. Redirects are followed (bounded); the answer is the
 * final response, any status, its body unread. `idleMs` without a byte, while
 * waiting for the headers or later while the body streams, destroys the
 * request (the body then errors with `TimeoutError`).
 */
export async function getFollowing(url: string, idleMs: number): Promise<IncomingMessage> {
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await getOnce(target, idleMs);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return res;
    res.resume();
    if (hop >= MAX_BLOB_REDIRECTS) throw new NoAnswer(`more than ${MAX_BLOB_REDIRECTS} redirects`);
    target = new URL(location, target);
  }
}

function getOnce(url: URL, idleMs: number): Promise<IncomingMessage> {
  const send = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
  if (!send) return Promise.reject(new NoAnswer(`redirect to unsupported ${url.protocol}`));
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET' });
    // The socket's idle timer covers both the wait for headers and the body.
    req.setTimeout(idleMs, () => req.destroy(new NoAnswer('TimeoutError')));
    req.on('error', (error: Error & { code?: string }) =>
      reject(error instanceof NoAnswer ? error : new NoAnswer(error.code ?? error.name)),
    );
    req.once('response', resolve);
    req.end();
  });
}

/**
 * Streams the blob to `destination`, verifying size and sha256 on the way;
 * the file appears (atomic rename) only once it is verified. Refusals keep
 * their kinds (`statusError`); a wrong blob is `invalid`; anything else on the
 * way (no answer, a broken stream) is `unavailable`.
 */
export async function downloadBlob(job: BlobDownloadJob, onBytes: (n: number) => void): Promise<void> {
  let res: IncomingMessage;
  try {
    res = await getFollowing(job.url, job.idleMs);
  } catch (error) {
    const cause = error instanceof NoAnswer ? error.code : error instanceof Error ? error.name : String(error);
    throw new RegistryError(`registry ${job.registry} did not answer (${cause}) while fetching ${job.what}`, 'unavailable');
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    res.resume();
    throw statusError(job.registry, job.what, status);
  }
  const hash = createHash('sha256');
  let seen = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      seen += chunk.length;
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  const partial = `${job.destination}.partial-${process.pid}-${Date.now()}`;
  try {
    await pipeline(res, meter, createWriteStream(partial, { mode: 0o600 }));
    const got = `sha256:${hash.digest('hex')}`;
    if (seen !== job.size) throw new RegistryError(`${job.what} is ${seen} bytes, manifest says ${job.size}`, 'invalid');
    if (got !== job.digest) throw new RegistryError(`${job.what} failed verification: content hashes to ${got}`, 'invalid');
    await rename(partial, job.destination);
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof RegistryError) throw error;
    throw new RegistryError(`${job.what} download failed: ${error instanceof Error ? error.message : String(error)}`, 'unavailable');
  }
}
