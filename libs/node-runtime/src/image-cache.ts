import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePinned } from '@warmpod/domain';
import { messageOf } from '@warmpod/observability';
import {
  imageConfigSchema,
  declaredMediaType,
  imageIndexSchema,
  imageManifestSchema,
  isImageIndex,
  MEDIA,
  ociArchitecture,
  platformManifest,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
} from '@warmpod/registry';
import { BlobSourceChain, heldImageBlob, RegistryBlobSource, type BlobSource, type HeldBlob } from './blob-sources/index';
import { CachedImages, readImageManifest } from './cached-images';
import { EarlyLookups } from './early-lookups';
import { NodeRuntimeError } from './errors';
import { exists, Mutex, randomSuffix } from './files';
import { baseRuntimeConfig } from './layers/base-config';
import { bundleLowers, MAX_IMAGE_LAYERS, readBundleLayers, writeImageBundle } from './layers/image-bundle';
import { imageDiffIds } from './layers/image-layers';
import { LayerStore } from './layers/layer-store';
import type { CachedImageEntry, EnsuredImage, ImageCacheOptions, PullProgressListener } from './image-cache-types';
import { digestHex, OciLayout, REF_NAME_ANNOTATION } from './oci-layout';
import { startDownloads, type BlobFetches } from './pull-downloads';

// Moved to @warmpod/registry with the platform rule; still exported from here for the cache's users.
export { ociArchitecture } from '@warmpod/registry';

export type {
  CachedImageEntry,
  CachedLayerEntry,
  EnsuredImage,
  ImageCacheOptions,
  PullProgress,
  PullProgressListener,
} from './image-cache-types';

interface ResolvedImage {
  manifest: ImageManifest;
  /** What index.json points at: always an image manifest, never an index. */
  descriptor: { mediaType: string; digest: string; size: number };
  /** Manifest (and index) bytes, written once the blobs they name are in. */
  manifestBlobs: Array<{ digest: string; body: Buffer }>;
}

/** The base runtime config written into an image's bundle, for buildRuntimeSpec. */
export async function readBundleConfig(bundleDir: string): Promise<unknown> {
  return JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8'));
}

/**
 * The node's digest-addressed image cache: blobs in one OCI layout (a layer
 * shared by several images is stored and fetched once), each layer unpacked
 * once into the layer store, and per pinned image a small bundle (base
 * runtime config, links to its layers) whose layers pods stack as overlay lowers.
 */
export class ImageCache {
  readonly arch: string;
  private readonly layout: OciLayout;
  private readonly unpackedDir: string;
  private readonly layers: LayerStore;
  private readonly pulls = new Map<string, { promise: Promise<EnsuredImage>; listeners: Set<PullProgressListener> }>();
  private readonly blobFetches = new Map<string, Promise<number>>();
  /** Blobs that running pulls rely on; garbage collection keeps them. */
  private readonly claims = new Map<string, number>();
  private readonly configs = new Map<string, ImageConfig>();
  private readonly gcLock = new Mutex();
  private ready?: Promise<void>;
  private readonly blobSource: BlobSource;
  private readonly manifests = new EarlyLookups<ResolvedImage>();
  private readonly images: CachedImages;

  constructor(private readonly opts: ImageCacheOptions) {
    this.arch = opts.arch ?? ociArchitecture();
    this.blobSource = opts.blobSource ?? new BlobSourceChain([new RegistryBlobSource(opts.registry)]);
    this.layout = new OciLayout(join(opts.dataDir, 'layout'));
    this.unpackedDir = join(opts.dataDir, 'unpacked');
    this.layers = new LayerStore(join(opts.dataDir, 'layers'), { zstdCommand: opts.zstdCommand });
    this.images = new CachedImages(this.layout, this.unpackedDir, this.layers);
  }

  bundleDir(digest: string): string {
    return join(this.unpackedDir, digestHex(digest));
  }

  /**
   * Makes the pinned image available on this node. Concurrent calls for one
   * digest share a single pull; a cached image returns at once.
   */
  ensure(pinned: string, onProgress?: PullProgressListener): Promise<EnsuredImage> {
    let ref: ReturnType<typeof parsePinned>;
    try {
      ref = parsePinned(pinned);
      digestHex(ref.digest);
    } catch (error) {
      return Promise.reject(new NodeRuntimeError('pull image', messageOf(error), undefined, { cause: error }));
    }
    let pull = this.pulls.get(ref.digest);
    if (!pull) {
      const listeners = new Set<PullProgressListener>();
      const promise = this.ensureOnce(pinned, ref, (p) => listeners.forEach((l) => l(p))).finally(() => this.pulls.delete(ref.digest));
      pull = { promise, listeners };
      this.pulls.set(ref.digest, pull);
    }
    if (onProgress) pull.listeners.add(onProgress);
    return pull.promise;
  }

  /**
   * Starts fetching the pinned image's manifest (and the blob sources' own
   * lookups, such as who holds its blobs), so that a pull of it coming soon
   * (once the node's budget has room) finds them done. Writes nothing.
   */
  prefetch(pinned: string): void {
    try {
      const ref = parsePinned(pinned);
      this.manifests.start(ref.digest, () => this.resolve(ref.registry, ref.repository, ref.digest));
      this.blobSource.prepare?.(ref.digest);
    } catch {
      // A reference that does not parse fails where it is pulled, with the reason.
    }
  }

  async has(digest: string): Promise<boolean> {
    return exists(join(this.bundleDir(digest), 'layers.json'));
  }

  async list(): Promise<CachedImageEntry[]> {
    await this.init();
    return this.images.list();
  }

  /** A config or layer blob of a cached image, for a peer node; undefined for anything else. */
  async heldBlob(digest: string): Promise<HeldBlob | undefined> {
    await this.init();
    return heldImageBlob(this.layout, digest);
  }

  /** Drops the image and every blob no other cached image uses. Pods using it must be gone. */
  async remove(digest: string): Promise<void> {
    const hex = digestHex(digest);
    await this.init();
    await this.pulls.get(digest)?.promise.catch(() => undefined);
    const trash = join(this.unpackedDir, `.trash-${hex}-${randomSuffix()}`);
    const moved = await rename(this.bundleDir(digest), trash).then(
      () => true,
      () => false,
    );
    await this.layout.dropRef(hex);
    this.configs.delete(digest);
    this.images.forget(digest);
    if (moved) await rm(trash, { recursive: true, force: true });
    await this.collectGarbage();
    this.opts.logger.info({ digest }, 'image removed from node cache');
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await this.layout.init();
      await mkdir(this.unpackedDir, { recursive: true });
      await this.layers.init();
      // Leftovers of a crash mid-unpack or mid-remove are never valid entries, nor are
      // whole-root bundles of earlier versions (no layers.json): those images are pulled again.
      for (const name of await readdir(this.unpackedDir)) {
        const stale = name.includes('.tmp-') || name.startsWith('.trash-') || !(await readBundleLayers(join(this.unpackedDir, name)));
        if (stale) await rm(join(this.unpackedDir, name), { recursive: true, force: true });
      }
    })();
    return this.ready;
  }

  private async ensureOnce(
    pinned: string,
    ref: { registry: string; repository: string; digest: string },
    progress: PullProgressListener,
  ): Promise<EnsuredImage> {
    await this.init();
    const cached = await this.cachedImage(ref.digest);
    if (cached) return cached;
    const started = Date.now();
    try {
      const image = await this.pull(ref.registry, ref.repository, ref.digest, progress);
      this.opts.logger.info({ image: pinned, bytesFetched: image.bytesFetched, ms: Date.now() - started }, 'image pulled and unpacked');
      return image;
    } catch (error) {
      // Verified blobs no image refers to are dropped too: nothing half-done stays.
      await this.collectGarbage().catch((gcError: unknown) =>
        this.opts.logger.warn({ err: gcError }, 'cache cleanup after failed pull failed'),
      );
      this.opts.logger.warn({ image: pinned, err: messageOf(error) }, 'image pull failed');
      throw new NodeRuntimeError('pull image', `${pinned}: ${messageOf(error)}`, undefined, { cause: error });
    }
  }

  private async cachedImage(digest: string): Promise<EnsuredImage | undefined> {
    const bundleDir = this.bundleDir(digest);
    const diffIds = await readBundleLayers(bundleDir);
    if (!diffIds) return undefined;
    let imageConfig = this.configs.get(digest);
    if (!imageConfig) {
      const ref = await this.layout.findRef(digestHex(digest));
      if (!ref) return undefined;
      const manifest = await this.readManifest(ref.digest);
      imageConfig = imageConfigSchema.parse(JSON.parse((await this.layout.readBlob(manifest.config.digest)).toString('utf8')));
      this.configs.set(digest, imageConfig);
    }
    return { digest, bundleDir, lowers: bundleLowers(bundleDir, diffIds.length), imageConfig, bytesFetched: 0, alreadyCached: true };
  }

  private async pull(registry: string, repository: string, digest: string, progress: PullProgressListener): Promise<EnsuredImage> {
    const { manifest, descriptor, manifestBlobs } = await (this.manifests.take(digest) ?? this.resolve(registry, repository, digest));
    const blobs = [manifest.config, ...manifest.layers];
    const claimed = [...blobs.map((d) => d.digest), ...manifestBlobs.map((b) => b.digest)];
    const missing = await this.gcLock.run(async () => {
      this.claim(claimed, +1);
      const present = await Promise.all(blobs.map((blob) => this.layout.hasBlob(blob.digest)));
      return blobs.filter((_, i) => !present[i]);
    });
    // Downloads run while the layers already in are unpacked: each layer starts once its blob is in.
    const from = { registry, repository, image: digest };
    const fetching = startDownloads({
      manifest,
      missing,
      progress,
      concurrency: this.opts.fetchConcurrency ?? 4,
      fetch: (blob, onBytes) => this.fetchBlobOnce(from, blob, onBytes),
    });
    const hex = digestHex(digest);
    let blobsIn: Promise<number> | undefined;
    try {
      await fetching.ready(manifest.config.digest);
      const configJson: unknown = JSON.parse((await this.layout.readBlob(manifest.config.digest)).toString('utf8'));
      const imageConfig = imageConfigSchema.parse(configJson);
      if (imageConfig.architecture && imageConfig.architecture !== this.arch) {
        throw new Error(`image is built for ${imageConfig.architecture}, this node runs ${this.arch}`);
      }
      const diffIds = imageDiffIds(configJson, manifest.layers.length);
      if (diffIds.length > MAX_IMAGE_LAYERS)
        throw new Error(`image has ${diffIds.length} layers; overlayfs stacks at most ${MAX_IMAGE_LAYERS}`);
      await this.gcLock.run(async () => this.claim(diffIds, +1));
      claimed.push(...diffIds);
      // Once every blob is in, the ref lets peers fetch them (the prepuller fans out from a node that has
      // all blobs) while the layers still unpack; the bundle alone marks the image cached.
      blobsIn = fetching.done.then(async (bytes) => {
        for (const blob of manifestBlobs) await this.layout.writeBlob(blob.digest, blob.body);
        await this.layout.putRef(hex, descriptor);
        return bytes;
      });
      blobsIn.catch(() => undefined); // awaited below; an unpack failure first is not unhandled
      const dirs = await this.unpackLayers(manifest, diffIds, fetching);
      const bytesFetched = await blobsIn;
      await this.writeBundle(digest, dirs, diffIds, imageConfig);
      this.configs.set(digest, imageConfig);
      const bundleDir = this.bundleDir(digest);
      return { digest, bundleDir, lowers: bundleLowers(bundleDir, diffIds.length), imageConfig, bytesFetched, alreadyCached: false };
    } catch (error) {
      // No new download starts; those running finish (or fail) before the claims go.
      fetching.stop();
      await fetching.done.catch(() => undefined);
      await blobsIn?.catch(() => undefined); // the ref may be being written: dropped after
      await this.layout.dropRef(hex);
      throw error;
    } finally {
      this.claim(claimed, -1);
    }
  }

  /** Fetches the pinned manifest; an index is narrowed to this node's linux/<arch> image. */
  private async resolve(registry: string, repository: string, digest: string): Promise<ResolvedImage> {
    const top = await this.opts.registry.fetchManifest(registry, repository, digest);
    const json: unknown = JSON.parse(top.body.toString('utf8'));
    if (!isImageIndex(json, top.mediaType)) {
      const mediaType = declaredMediaType(json, top.mediaType);
      const manifest = imageManifestSchema.parse(json);
      const layoutType = mediaType === MEDIA.dockerManifest ? mediaType : MEDIA.ociManifest;
      return {
        manifest,
        descriptor: { mediaType: layoutType, digest, size: top.body.length },
        manifestBlobs: [{ digest, body: top.body }],
      };
    }
    const index = imageIndexSchema.parse(json);
    const chosen = platformManifest(index, { os: 'linux', architecture: this.arch });
    if (!chosen) throw new Error(`image index ${digest} has no linux/${this.arch} image`);
    const inner = await this.opts.registry.fetchManifest(registry, repository, chosen.digest);
    return {
      manifest: imageManifestSchema.parse(JSON.parse(inner.body.toString('utf8'))),
      descriptor: { mediaType: chosen.mediaType, digest: chosen.digest, size: inner.body.length },
      manifestBlobs: [
        { digest, body: top.body },
        { digest: chosen.digest, body: inner.body },
      ],
    };
  }

  /** One download per blob at a time, however many pulls need it. Returns bytes this call fetched. */
  private fetchBlobOnce(
    from: { registry: string; repository: string; image: string },
    blob: Descriptor,
    onBytes: (n: number) => void,
  ): Promise<number> {
    const running = this.blobFetches.get(blob.digest);
    if (running) return running.then(() => 0);
    const destination = this.layout.blobPath(blob.digest);
    const fetch = this.blobSource
      .fetch({ ...from, digest: blob.digest, size: blob.size, destination, onBytes })
      .then(() => blob.size)
      .finally(() => this.blobFetches.delete(blob.digest));
    this.blobFetches.set(blob.digest, fetch);
    return fetch;
  }

  /**
   * Unpacks the layers the store lacks, bottom first (a layer may hard-link
   * into those below), each as soon as its blob is in. Returns their directories, bottom first.
   */
  private async unpackLayers(manifest: ImageManifest, diffIds: string[], fetching: BlobFetches): Promise<string[]> {
    const dirs: string[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = diffIds[i]!;
      await fetching.ready(layer.digest);
      await this.layers.ensure(
        {
          digest: layer.digest,
          mediaType: layer.mediaType,
          diffId,
          blobPath: this.layout.blobPath(layer.digest),
          blobVerified: fetching.verifiedHere(layer.digest),
        },
        [...dirs].reverse(),
      );
      dirs.push(this.layers.path(diffId));
    }
    return dirs;
  }

  /** The bundle (base runtime config, links to the layers) marks the image cached: written last. */
  private async writeBundle(digest: string, dirs: string[], diffIds: string[], imageConfig: ImageConfig): Promise<void> {
    const baseConfig = await baseRuntimeConfig(imageConfig, [...dirs].reverse());
    const layers = dirs.map((dir, i) => ({ dir, diffId: diffIds[i]! }));
    await writeImageBundle(this.bundleDir(digest), layers, baseConfig);
  }

  private claim(digests: string[], delta: 1 | -1): void {
    for (const d of digests) {
      const count = (this.claims.get(d) ?? 0) + delta;
      if (count > 0) this.claims.set(d, count);
      else this.claims.delete(d);
    }
  }

  private readManifest(digest: string): Promise<ImageManifest> {
    return readImageManifest(this.layout, digest);
  }

  /** Deletes blobs and layer directories that no cached image and no running pull refers to. */
  private collectGarbage(): Promise<void> {
    return this.gcLock.run(async () => {
      const live = new Set<string>();
      for (const ref of await this.layout.refs()) {
        live.add(ref.digest);
        const name = ref.annotations?.[REF_NAME_ANNOTATION];
        if (name) live.add(`sha256:${name}`);
        const manifest = await this.readManifest(ref.digest).catch(() => undefined);
        for (const d of manifest ? [manifest.config, ...manifest.layers] : []) live.add(d.digest);
      }
      for (const digest of await this.layout.blobDigests()) {
        if (!live.has(digest) && !this.claims.has(digest) && !this.blobFetches.has(digest)) await this.layout.removeBlob(digest);
      }
      // A layer stays while any cached image's bundle names it: the pods running an image and
      // the pins protecting it keep the image cached (see the agent's budget), hence its layers.
      const liveLayers = new Set<string>();
      for (const name of await readdir(this.unpackedDir)) {
        for (const diffId of (await readBundleLayers(join(this.unpackedDir, name))) ?? []) liveLayers.add(diffId);
      }
      for (const diffId of await this.layers.list()) {
        if (!liveLayers.has(diffId) && !this.claims.has(diffId) && !this.layers.busy(diffId)) await this.layers.remove(diffId);
      }
    });
  }
}
