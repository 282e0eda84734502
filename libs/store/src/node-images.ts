import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from './keys';

export interface LayerInfo {
  digest: string;
  sizeBytes: number;
}

/** An image in a node's cache: manifest digest, bytes a pull would fetch, and its layers. */
export interface CachedImage {
  digest: string;
  sizeBytes: number;
  layers: LayerInfo[];
}

/** One entry of a node's images hash, before its layers are looked up. */
export interface ImageEntry {
  digest: string;
  sizeBytes: number;
  layerCount: number;
  /** Layers stored inline by an older version (JSON entries). */
  inlineLayers?: LayerInfo[];
}

const layersSchema = z.array(z.object({ digest: z.string(), sizeBytes: z.number() }));
const legacyEntrySchema = z.object({ sizeBytes: z.number(), layers: layersSchema });
const ENTRY = /^(\d+)(?: (\d+))?$/;

/**
 * What `putImages` (lua.ts) takes for one image: digest, the per-node entry
 * `sizeBytes layerCount`, and the layers JSON stored once per digest ('' when
 * the layers are unknown).
 */
export function imageArgs(image: CachedImage): [string, string, string] {
  // Only what every node agrees on: a layer's unpacked size on one node's disk is not the image's.
  const layers = image.layers.map(({ digest, sizeBytes }) => ({ digest, sizeBytes }));
  return [image.digest, `${image.sizeBytes} ${layers.length}`, layers.length > 0 ? JSON.stringify(layers) : ''];
}

/** Reads an images-hash entry: `size layerCount`, a bare size (no layers), or a legacy JSON {sizeBytes, layers}. */
export function parseImageEntry(digest: string, value: string): ImageEntry | undefined {
  const m = ENTRY.exec(value);
  if (m) return { digest, sizeBytes: Number(m[1]), layerCount: Number(m[2] ?? 0) };
  const legacy = parseJson(value, legacyEntrySchema);
  return legacy ? { digest, sizeBytes: legacy.sizeBytes, layerCount: legacy.layers.length, inlineLayers: legacy.layers } : undefined;
}

export function parseImageEntries(hash: Record<string, string>): ImageEntry[] {
  return Object.entries(hash).flatMap(([digest, value]) => parseImageEntry(digest, value) ?? []);
}

/**
 * The layers of each digest, from `layers:<digest>` (one MGET). A digest's
 * layers never change, so `cache` (when given) is consulted first and filled.
 */
export async function readLayers(
  redis: Redis,
  keys: Keys,
  digests: Iterable<string>,
  cache?: Map<string, LayerInfo[]>,
): Promise<Map<string, LayerInfo[]>> {
  const found = new Map<string, LayerInfo[]>();
  const missing: string[] = [];
  for (const d of new Set(digests)) {
    const hit = cache?.get(d);
    if (hit) found.set(d, hit);
    else missing.push(d);
  }
  if (missing.length === 0) return found;
  const raws = await redis.mget(missing.map((d) => keys.layers(d)));
  missing.forEach((d, i) => {
    const layers = parseJson(raws[i] ?? undefined, layersSchema);
    if (!layers) return;
    found.set(d, layers);
    cache?.set(d, layers);
  });
  return found;
}

/** Entries with their layers (none when unknown or not stored). */
export function withLayers(entries: ImageEntry[], layers: Map<string, LayerInfo[]>): CachedImage[] {
  return entries.map((e) => ({
    digest: e.digest,
    sizeBytes: e.sizeBytes,
    layers: e.inlineLayers ?? (e.layerCount > 0 ? (layers.get(e.digest) ?? []) : []),
  }));
}

export function parseJson<T>(raw: string | undefined | null, schema: z.ZodType<T>): T | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
