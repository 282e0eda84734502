import type { ImageConfig, RegistryClient } from '@warmpod/registry';
import type { Logger } from '@warmpod/observability';
import type { BlobSource } from './blob-sources/index';
import type { ImageLowers } from './pod-rootfs';

/** What the image cache takes and hands out. */

export interface ImageCacheOptions {
  dataDir: string;
  registry: RegistryClient;
  logger: Logger;
  /** OCI architecture to pick from an index; defaults to this machine's. */
  arch?: string;
  /** Blobs downloaded at the same time by one pull. */
  fetchConcurrency?: number;
  /** Where blobs come from (peers, then the registry); default: the registry alone. */
  blobSource?: BlobSource;
  /** The zstd program that unpacks zstd-compressed layers (default: `zstd` on the system PATH). */
  zstdCommand?: string;
}

export interface PullProgress {
  bytesDone: number;
  bytesTotal: number;
  layersDone: number;
  layersTotal: number;
}
export type PullProgressListener = (progress: PullProgress) => void;

export interface EnsuredImage {
  /** The pinned digest (an index digest when the pin named an index). */
  digest: string;
  /** The image's bundle: config.json (base runtime config) and the links to its layers. */
  bundleDir: string;
  /** What a pod's overlay stacks: the image's layer directories, top first. */
  lowers: ImageLowers;
  imageConfig: ImageConfig;
  /** Bytes downloaded by this call; 0 on a cache hit. */
  bytesFetched: number;
  alreadyCached: boolean;
}

export interface CachedLayerEntry {
  /** Blob digest, as the manifest names it. */
  digest: string;
  /** Compressed blob bytes: what a pull (or a peer) would fetch. */
  sizeBytes: number;
  /** The layer directory's name: images sharing it store it once. */
  diffId: string;
  /** What the unpacked layer directory takes on disk (the blob stays beside it for peers). */
  unpackedBytes: number;
}

export interface CachedImageEntry {
  digest: string;
  /** Compressed bytes of manifest, config and layers: what a pull would fetch. */
  sizeBytes: number;
  layers: CachedLayerEntry[];
  /** What the image alone takes on disk: its blobs plus its unpacked layers (shared ones included). */
  diskBytes: number;
}
