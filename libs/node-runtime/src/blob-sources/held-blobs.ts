import { stat } from 'node:fs/promises';
import { imageManifestSchema } from '@warmpod/registry';
import type { OciLayout } from '../oci-layout';

/** A verified blob this node may hand to a peer. */
export interface HeldBlob {
  path: string;
  size: number;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * The config or layer blob `digest` of an image the layout names, or
 * undefined. Only what an image manifest of the cache lists counts: a
 * manifest, a half-downloaded blob or any other file is never served
 * (checkpoints are stored elsewhere and are not in the layout at all).
 */
export async function heldImageBlob(layout: OciLayout, digest: string): Promise<HeldBlob | undefined> {
  if (!DIGEST.test(digest)) return undefined;
  for (const ref of await layout.refs()) {
    const raw = await layout.readBlob(ref.digest).catch(() => undefined);
    if (!raw) continue;
    const parsed = imageManifestSchema.safeParse(parseJson(raw.toString('utf8')));
    if (!parsed.success) continue;
    const listed = [parsed.data.config, ...parsed.data.layers].find((d) => d.digest === digest);
    if (!listed) continue;
    const path = layout.blobPath(digest);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    // A size that disagrees with the manifest is not a blob anyone should trust.
    return size === listed.size ? { path, size } : undefined;
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
