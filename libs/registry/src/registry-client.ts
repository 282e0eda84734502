import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { manifestReference, type ImageReference } from '@warmpod/domain';
import { downloadBlob, type BlobDownloadJob } from './blob-download';
import { DEFAULT_DOWNLOAD_THREAD_MIN_BYTES, downloadInThread } from './blob-download-thread';
import { RegistryError, statusError } from './errors';
import { imageIndexSchema, imageManifestSchema } from './manifest';
import { MANIFEST_ACCEPT } from './media-types';
import { formatPlatform, isImageIndex, platformManifest, type Platform } from './platform';

export interface RegistryClientOptions {
  /** Registries spoken to over plain HTTP (loopback registries always are). */
  insecureRegistries: readonly string[];
  timeoutMs: number;
  /** Blobs of at least this many bytes download on a worker thread (default 4 MiB; 0: all of them). */
  threadMinBytes?: number;
  /** The download worker's script (default: the one beside this package's code). */
  downloadWorkerScript?: string;
}

export interface ResolvedManifest {
  digest: string;
  mediaType: string;
}

export interface ImageDescription {
  sizeBytes: number;
  layers: Array<{ digest: string; sizeBytes: number }>;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Client for the OCI distribution API: resolve tags, fetch manifests and blobs by digest. */
export class RegistryClient {
  constructor(private readonly opts: RegistryClientOptions) {}

  private base(registry: string): string {
    const plain = LOOPBACK.test(registry) || this.opts.insecureRegistries.includes(registry);
    return `${plain ? 'http' : 'https'}://${registry}/v2`;
  }

  /** `path` is under /v2 of the registry, or a full URL the registry handed out (an upload location). */
  private async request(registry: string, path: string, init: RequestInit, what: string, action = 'fetching'): Promise<Response> {
    let res: Response;
    const url = /^https?:\/\//.test(path) ? path : `${this.base(registry)}${path}`;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new RegistryError(`registry ${registry} did not answer (${cause}) while ${action} ${what}`, 'unavailable');
    }
    if (res.ok) return res;
    await res.body?.cancel();
    throw statusError(registry, what, res.status);
  }

  /**
   * Whether the registry answers the distribution API's base endpoint
   * (`GET /v2/`) within `timeoutMs`: 200, or 401 when it wants credentials,
   * both mean it serves. For readiness; never throws.
   */
  async answers(registry: string, timeoutMs: number): Promise<boolean> {
    try {
      const res = await fetch(`${this.base(registry)}/`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel();
      return res.status === 200 || res.status === 401;
    } catch {
      return false;
    }
  }

  /** HEAD the manifest: the tag's (or digest's) manifest digest, without downloading it. */
  async resolve(ref: ImageReference): Promise<ResolvedManifest> {
    const reference = manifestReference(ref);
    const what = `${ref.repository}:${reference}`;
    const res = await this.request(
      ref.registry,
      `/${ref.repository}/manifests/${reference}`,
      { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } },
      what,
    );
    const digest = res.headers.get('docker-content-digest');
    const mediaType = res.headers.get('content-type') ?? '';
    if (digest) return { digest, mediaType };
    // Some registries omit the header on HEAD: fetch and hash the body instead.
    const fetched = await this.fetchManifest(ref.registry, ref.repository, reference);
    return { digest: fetched.digest, mediaType: fetched.mediaType };
  }

  /** GET a manifest; when asked by digest, the bytes are verified against it. */
  async fetchManifest(registry: string, repository: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${repository}@${reference}`;
    const res = await this.request(registry, `/${repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } }, what);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST_BYTES) throw new RegistryError(`${what} is larger than 4 MiB`, 'invalid');
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError(`${what} failed verification: content hashes to ${digest}`, 'invalid');
    }
    return { digest, mediaType: res.headers.get('content-type') ?? '', body };
  }

  /**
   * What a pinned image is made of: its layers and total size, for the
   * platform given (an index is narrowed to that platform's manifest by
   * `platformManifest`, the rule the agents' caches pull by).
   */
  async describeImage(registry: string, repository: string, digest: string, platform: Platform): Promise<ImageDescription> {
    let fetched = await this.fetchManifest(registry, repository, digest);
    let json: unknown = JSON.parse(fetched.body.toString('utf8'));
    if (isImageIndex(json, fetched.mediaType)) {
      const match = platformManifest(imageIndexSchema.parse(json), platform);
      if (!match) throw new RegistryError(`${repository}@${digest} has no ${formatPlatform(platform)} image`, 'not-found');
      fetched = await this.fetchManifest(registry, repository, match.digest);
      json = JSON.parse(fetched.body.toString('utf8'));
    }
    const parsed = imageManifestSchema.safeParse(json);
    if (!parsed.success) throw new RegistryError(`manifest ${repository}@${digest} is not an image manifest`, 'invalid');
    const layers = parsed.data.layers.map((l) => ({ digest: l.digest, sizeBytes: l.size }));
    return { layers, sizeBytes: layers.reduce((sum, l) => sum + l.sizeBytes, parsed.data.config.size) };
  }

  /**
   * Streams a blob to `destination`, verifying size and sha256 on the way;
   * the file appears (atomic rename) only once it is verified.
   */
  async fetchBlob(
    registry: string,
    repository: string,
    digest: string,
    size: number,
    destination: string,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    const job: BlobDownloadJob = {
      url: `${this.base(registry)}/${repository}/blobs/${digest}`,
      registry,
      what: `blob ${digest.slice(0, 19)} of ${repository}`,
      digest,
      size,
      destination,
      idleMs: this.opts.timeoutMs,
    };
    const count = onBytes ?? (() => undefined);
    if (size >= (this.opts.threadMinBytes ?? DEFAULT_DOWNLOAD_THREAD_MIN_BYTES))
      await downloadInThread(job, count, this.opts.downloadWorkerScript);
    else await downloadBlob(job, count);
  }

  /** Whether the repository holds the blob (HEAD); content-addressed, so an upload of it can be skipped. */
  async hasBlob(registry: string, repository: string, digest: string): Promise<boolean> {
    try {
      await this.request(
        registry,
        `/${repository}/blobs/${digest}`,
        { method: 'HEAD' },
        `blob ${digest.slice(0, 19)} of ${repository}`,
        'checking',
      );
      return true;
    } catch (error) {
      if (error instanceof RegistryError && error.kind === 'not-found') return false;
      throw error;
    }
  }

  /**
   * Uploads a file (streamed) or bytes as a blob, in one POST and one PUT
   * carrying the digest, which the registry verifies; skipped when the
   * repository already has it.
   */
  async pushBlob(registry: string, repository: string, blob: { digest: string; size: number }, source: string | Buffer): Promise<void> {
    if (await this.hasBlob(registry, repository, blob.digest)) return;
    const what = `blob ${blob.digest.slice(0, 19)} to ${repository}`;
    const started = await this.request(registry, `/${repository}/blobs/uploads/`, { method: 'POST' }, what, 'pushing');
    await started.body?.cancel();
    const location = started.headers.get('location');
    if (!location) throw new RegistryError(`registry ${registry} started an upload of ${what} without a Location`, 'invalid');
    const url = new URL(location, `${this.base(registry)}/`);
    url.searchParams.set('digest', blob.digest);
    if (typeof source === 'string' && (await stat(source)).size !== blob.size) {
      throw new RegistryError(`${what}: ${source} is not ${blob.size} bytes any more`, 'invalid');
    }
    const body = typeof source === 'string' ? Readable.toWeb(createReadStream(source)) : source;
    const init: RequestInit & { duplex: 'half' } = {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: body as NonNullable<RequestInit['body']>,
      duplex: 'half',
    };
    const done = await this.request(registry, url.toString(), init, what, 'pushing');
    await done.body?.cancel();
  }

  /** PUTs a manifest by its own digest (no tag) and returns that digest. */
  async putManifest(registry: string, repository: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const what = `manifest ${repository}@${digest}`;
    const res = await this.request(
      registry,
      `/${repository}/manifests/${digest}`,
      { method: 'PUT', headers: { 'content-type': mediaType }, body },
      what,
      'pushing',
    );
    await res.body?.cancel();
    const stored = res.headers.get('docker-content-digest');
    if (stored && stored !== digest) throw new RegistryError(`registry ${registry} stored ${what} as ${stored}`, 'invalid');
    return digest;
  }

  /** Deletes a manifest by digest; false when the registry had none. */
  async deleteManifest(registry: string, repository: string, digest: string): Promise<boolean> {
    try {
      const res = await this.request(
        registry,
        `/${repository}/manifests/${digest}`,
        { method: 'DELETE' },
        `manifest ${repository}@${digest}`,
        'deleting',
      );
      await res.body?.cancel();
      return true;
    } catch (error) {
      if (error instanceof RegistryError && error.kind === 'not-found') return false;
      throw error;
    }
  }
}
