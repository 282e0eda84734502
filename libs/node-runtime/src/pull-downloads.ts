import type { Descriptor, ImageManifest } from '@warmpod/registry';
import type { PullProgress, PullProgressListener } from './image-cache-types';

/** The downloads of one pull, as the unpack waits on them. */
export interface BlobFetches {
  /** Bytes this pull fetched, once every download is over; rejects with the first failure. */
  done: Promise<number>;
  /** Settles when the blob is in the layout (at once for a blob that was already there). */
  ready(digest: string): Promise<void>;
  /** This pull fetched the blob, verifying its digest on the way (a second hash would only cost CPU). */
  verifiedHere(digest: string): boolean;
  /** Starts no more downloads. */
  stop(): void;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting on this blob (the unpack stopped earlier): not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export interface DownloadPlan {
  manifest: ImageManifest;
  /** The blobs the layout lacks, config first, then layers bottom up. */
  missing: Descriptor[];
  progress: PullProgressListener;
  /** Blobs downloaded at the same time. */
  concurrency: number;
  /** Fetches one blob into the layout; returns the bytes this call fetched (0 when another pull did). */
  fetch(blob: Descriptor, onBytes: (n: number) => void): Promise<number>;
}

/**
 * Starts one pull's downloads, `concurrency` at a time, keeping its progress
 * (bytes and layers); `ready(digest)` settles when that blob is in, so the
 * unpack can start on it while the rest still download.
 */
export function startDownloads({ manifest, missing, progress, concurrency, fetch }: DownloadPlan): BlobFetches {
  const all = [manifest.config, ...manifest.layers];
  const layers = new Set(manifest.layers.map((d) => d.digest));
  const state: PullProgress = {
    bytesTotal: all.reduce((sum, d) => sum + d.size, 0),
    bytesDone: 0,
    layersDone: 0,
    layersTotal: manifest.layers.length,
  };
  const absent = new Set(missing.map((d) => d.digest));
  for (const d of all) {
    if (absent.has(d.digest)) continue;
    state.bytesDone += d.size;
    if (layers.has(d.digest)) state.layersDone++;
  }
  progress({ ...state });
  const arrivals = new Map<string, Deferred>();
  for (const blob of missing) arrivals.set(blob.digest, deferred());
  const verified = new Set<string>();
  let fetched = 0;
  // Config first, then layers bottom up: the order they are unpacked in.
  const queue = [...missing];
  const worker = async (): Promise<void> => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      const arrival = arrivals.get(blob.digest)!;
      let seen = 0;
      try {
        // Awaited first: `fetched += await ...` would read `fetched` before other workers add to it.
        const bytes = await fetch(blob, (n) => {
          seen += n;
          state.bytesDone += n;
          progress({ ...state });
        });
        fetched += bytes;
        if (bytes > 0) verified.add(blob.digest);
      } catch (error) {
        arrival.reject(error);
        // The pull fails: nothing more starts, and nobody waits forever on a blob left queued.
        for (const left of queue.splice(0)) arrivals.get(left.digest)!.reject(error);
        throw error;
      }
      state.bytesDone += blob.size - seen;
      if (layers.has(blob.digest)) state.layersDone++;
      progress({ ...state });
      arrival.resolve();
    }
  };
  const done = Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker)).then(() => fetched);
  done.catch(() => undefined); // awaited by the pull; a failure before that is not unhandled
  const stopped = new Error('pull stopped');
  return {
    done,
    ready: async (digest) => arrivals.get(digest)?.promise,
    verifiedHere: (digest) => verified.has(digest),
    stop: () => {
      for (const blob of queue.splice(0)) arrivals.get(blob.digest)!.reject(stopped);
    },
  };
}
