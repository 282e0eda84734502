import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BlobDownloadJob } from './blob-download';
import { REGISTRY_ERROR_KINDS, RegistryError, type RegistryErrorKind } from './errors';

/** Blobs from this size up download on a worker thread; smaller ones are not worth a thread's start. */
export const DEFAULT_DOWNLOAD_THREAD_MIN_BYTES = 4 * 2 ** 20;

/**
 * The worker's script, beside this file: `dist/` in the workspace, `bin/` in
 * an image (the agent's bundle has it as an entry point of its own, see tools/images).
 */
export const BLOB_DOWNLOAD_WORKER_SCRIPT = 'blob-download-worker.js';

/** What the worker posts: bytes as they arrive (batched), then one outcome. */
export type DownloadMessage = { bytes: number } | { ok: true } | { ok: false; message: string; kind: RegistryErrorKind };

/** A message from the worker, checked; undefined for anything else. */
export function parseDownloadMessage(m: unknown): DownloadMessage | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const bytes: unknown = Reflect.get(m, 'bytes');
  if (typeof bytes === 'number' && Number.isSafeInteger(bytes)) return { bytes };
  const ok: unknown = Reflect.get(m, 'ok');
  if (ok === true) return { ok };
  const message: unknown = Reflect.get(m, 'message');
  const kind = REGISTRY_ERROR_KINDS.find((k) => k === Reflect.get(m, 'kind'));
  if (ok === false && typeof message === 'string' && kind) return { ok, message, kind };
  return undefined;
}

/**
 * Runs `downloadBlob` on a worker thread. A large blob streams as one new
 * buffer per socket read; in the agent's isolate (tens of MB of heap) that
 * churn kept V8 in back-to-back full collections, each marking the whole heap.
 * The worker's isolate holds the download alone. Progress comes back as the
 * bytes arrive; refusals keep their kinds; the worker failing itself is
 * `unavailable` (worth a retry).
 */
export function downloadInThread(
  job: BlobDownloadJob,
  onBytes: (n: number) => void,
  script = join(__dirname, BLOB_DOWNLOAD_WORKER_SCRIPT),
): Promise<void> {
  return new Promise((resolve, reject) => {
    let outcome: { ok: true } | { ok: false; error: RegistryError } | undefined;
    const failed = (why: string) => ({
      ok: false as const,
      error: new RegistryError(`${job.what} download failed: ${why}`, 'unavailable'),
    });
    const worker = new Worker(script, { workerData: job });
    worker.on('message', (raw: unknown) => {
      const m = parseDownloadMessage(raw);
      if (!m) outcome ??= failed('the download worker sent an invalid message');
      else if ('bytes' in m) onBytes(m.bytes);
      else outcome ??= m.ok ? m : { ok: false, error: new RegistryError(m.message, m.kind) };
    });
    worker.once('error', (error) => {
      outcome ??= failed(`download worker: ${error.message}`);
    });
    // Settled on exit: nothing of the worker (its file, its socket) outlives the promise.
    worker.once('exit', (code) => {
      if (outcome?.ok) resolve();
      else reject(outcome?.error ?? failed(`the download worker exited with code ${code} and no outcome`).error);
    });
  });
}
