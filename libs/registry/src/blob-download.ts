import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

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
