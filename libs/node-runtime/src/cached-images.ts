import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { imageManifestSchema, type ImageManifest } from '@warmpod/registry';
import type { CachedImageEntry, CachedLayerEntry } from './image-cache-types';
import { readBundleLayers } from './layers/image-bundle';
import type { LayerStore } from './layers/layer-store';
import { REF_NAME_ANNOTATION, type LayoutDescriptor, type OciLayout } from './oci-layout';

const IMAGE_NAME = /^[a-f0-9]{64}$/;

export async function readImageManifest(layout: OciLayout, digest: string): Promise<ImageManifest> {
  return imageManifestSchema.parse(JSON.parse((await layout.readBlob(digest)).toString('utf8')));
}

/**
 * What the node's image cache holds, as the disk budget and the inventory
 * read it. Which images are there is read from disk on every call (the
 * layout's refs and the bundles beside them); what one image is made of is
 * read once, since its manifest, its layers' diff_ids and their measured
 * sizes do not change while it stays cached. A pull lists the cache three
 * times (budget, announce, inventory report): reading every file of every
 * image each time took 50-100 ms of a re-pin on a busy node.
 */
export class CachedImages {
  /** By image name (digest hex); `manifest` is the ref's digest it was read for. */
  private readonly entries = new Map<string, { manifest: string; entry: Promise<CachedImageEntry | undefined> }>();

  constructor(
    private readonly layout: OciLayout,
    private readonly unpackedDir: string,
    private readonly layers: Pick<LayerStore, 'diskBytes'>,
  ) {}

  async list(): Promise<CachedImageEntry[]> {
    const [names, refs] = await Promise.all([readdir(this.unpackedDir), this.layout.refs()]);
    const unpacked = new Set(names.filter((n) => IMAGE_NAME.test(n)));
    const found = await Promise.all(
      refs.map((ref) => {
        const name = ref.annotations?.[REF_NAME_ANNOTATION];
        return name && unpacked.has(name) ? this.entry(name, ref) : undefined;
      }),
    );
    return found.filter((e): e is CachedImageEntry => e !== undefined);
  }

  /** The image left the cache (or is about to be pulled again): its entry is read afresh next time. */
  forget(digest: string): void {
    this.entries.delete(digest.replace(/^sha256:/, ''));
  }

  private entry(name: string, ref: LayoutDescriptor): Promise<CachedImageEntry | undefined> {
    const kept = this.entries.get(name);
    if (kept?.manifest === ref.digest) return kept.entry;
    const entry = this.read(name, ref);
    this.entries.set(name, { manifest: ref.digest, entry });
    // Neither a failed read nor a bundle without its layers is kept: both are read again.
    const drop = (): void => {
      if (this.entries.get(name)?.entry === entry) this.entries.delete(name);
    };
    entry.then((e) => {
      if (!e) drop();
    }, drop);
    return entry;
  }

  private async read(name: string, ref: LayoutDescriptor): Promise<CachedImageEntry | undefined> {
    const [manifest, diffIds] = await Promise.all([
      readImageManifest(this.layout, ref.digest),
      readBundleLayers(join(this.unpackedDir, name)),
    ]);
    if (!diffIds || diffIds.length !== manifest.layers.length) return undefined;
    const sizeBytes = ref.size + [manifest.config, ...manifest.layers].reduce((sum, d) => sum + d.size, 0);
    const layers = await Promise.all(
      manifest.layers.map(async (d, i): Promise<CachedLayerEntry> => ({
        digest: d.digest,
        sizeBytes: d.size,
        diffId: diffIds[i]!,
        unpackedBytes: await this.layers.diskBytes(diffIds[i]!),
      })),
    );
    return { digest: `sha256:${name}`, sizeBytes, layers, diskBytes: sizeBytes + layers.reduce((s, l) => s + l.unpackedBytes, 0) };
  }
}
