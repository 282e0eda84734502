/**
 * Worker-thread entry: downloads the one blob in `workerData` (see
 * downloadInThread), posting its bytes as they arrive and then the outcome.
 * Loads the download code alone, so this isolate's heap stays small.
 */
import { globalAgent as httpAgent } from 'node:http';
import { globalAgent as httpsAgent } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { downloadBlob, type BlobDownloadJob } from './blob-download';
import { RegistryError } from './errors';

/** Progress is posted once this many bytes have come in (and at the end): not one message per socket read. */
const PROGRESS_EVERY = 1 << 20;

function parseJob(data: unknown): BlobDownloadJob {
  if (typeof data !== 'object' || data === null) throw new Error('download job: not an object');
  const text = (key: string): string => {
    const v: unknown = Reflect.get(data, key);
    if (typeof v !== 'string' || v === '') throw new Error(`download job: ${key} must be a non-empty string`);
    return v;
  };
  const count = (key: string): number => {
    const v: unknown = Reflect.get(data, key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`download job: ${key} must be a whole number`);
    return v;
  };
  return {
    url: text('url'),
    registry: text('registry'),
    what: text('what'),
    digest: text('digest'),
    size: count('size'),
    destination: text('destination'),
    idleMs: count('idleMs'),
  };
}

if (!parentPort) throw new Error('blob-download-worker runs as a worker thread (see downloadInThread)');
const port = parentPort;
let pending = 0;
const flush = () => {
  if (pending > 0) port.postMessage({ bytes: pending });
  pending = 0;
};
void (async () => {
  try {
    await downloadBlob(parseJob(workerData), (n) => {
      pending += n;
      if (pending >= PROGRESS_EVERY) flush();
    });
    flush();
    port.postMessage({ ok: true });
  } catch (error) {
    flush();
    const kind = error instanceof RegistryError ? error.kind : 'unavailable';
    port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error), kind });
  } finally {
    // Kept-alive sockets would hold this thread (and the caller, who waits for its exit) open.
    httpAgent.destroy();
    httpsAgent.destroy();
  }
})();
