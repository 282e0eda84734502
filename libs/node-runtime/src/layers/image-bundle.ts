import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { randomSuffix, readOwnJson } from '../files';
import type { ImageLowers } from '../pod-rootfs';

/** overlayfs stacks at most this many lower directories (OVL_MAX_STACK). */
export const MAX_IMAGE_LAYERS = 500;

const bundleLayersSchema = z.object({ diffIds: z.array(z.string().regex(/^sha256:[a-f0-9]{64}$/)) });

/**
 * An image's bundle: config.json (the base runtime config), layers.json (its
 * diff_ids, bottom first) and lower/<i>, short relative links to the shared
 * layer directories. Mounting through the links keeps the overlay option
 * string short (500 layers fit in a page), whatever the data directory's path.
 */
export async function writeImageBundle(
  bundleDir: string,
  layers: ReadonlyArray<{ diffId: string; dir: string }>,
  baseConfig: unknown,
): Promise<void> {
  const tmp = `${bundleDir}.tmp-${randomSuffix()}`;
  try {
    await mkdir(join(tmp, 'lower'), { recursive: true });
    for (const [i, layer] of layers.entries()) await symlink(relative(join(bundleDir, 'lower'), layer.dir), join(tmp, 'lower', String(i)));
    // overlayfs needs one lower directory even for an image without layers.
    if (layers.length === 0) await mkdir(join(tmp, 'lower', 'empty'));
    await writeFile(join(tmp, 'config.json'), JSON.stringify(baseConfig, null, 2));
    await writeFile(join(tmp, 'layers.json'), JSON.stringify({ diffIds: layers.map((l) => l.diffId) }));
    await rename(tmp, bundleDir);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return; // written by a concurrent pull: same content
    throw error;
  }
}

/** The bundle's diff_ids (bottom first); undefined when it has none (not a layer-store bundle). */
export async function readBundleLayers(bundleDir: string): Promise<string[] | undefined> {
  return (await readOwnJson(join(bundleDir, 'layers.json'), bundleLayersSchema))?.diffIds;
}

/** What PodRootfs mounts: the bundle's links, top layer first. */
export function bundleLowers(bundleDir: string, layerCount: number): ImageLowers {
  const names = layerCount === 0 ? ['empty'] : Array.from({ length: layerCount }, (_, i) => String(layerCount - 1 - i));
  return { dir: join(bundleDir, 'lower'), names };
}
