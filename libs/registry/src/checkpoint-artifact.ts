import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MEDIA } from './media-types';

/**
 * A checkpoint as an OCI artifact: an image manifest whose `artifactType`
 * says "warmpod checkpoint", a config blob carrying the full key, the runtime
 * it was taken under and the sizes, one layer per CRIU image file (named by
 * its `org.opencontainers.image.title`) and one for the writable-layer tar.
 * Everything is addressed by digest, so a node that fetches it verifies every
 * byte it restores from.
 */
export const CHECKPOINT_ARTIFACT_TYPE = 'application/vnd.warmpod.checkpoint.v1';
export const CHECKPOINT_CONFIG_MEDIA = 'application/vnd.warmpod.checkpoint.config.v1+json';
export const CRIU_IMAGE_MEDIA = 'application/vnd.warmpod.checkpoint.criu-image.v1';
export const ROOTFS_DIFF_MEDIA = 'application/vnd.warmpod.checkpoint.rootfs-diff.v1.tar';

const TITLE = 'org.opencontainers.image.title';
export const CHECKPOINT_ANNOTATIONS = {
  id: 'io.warmpod.checkpoint.id',
  key: 'io.warmpod.checkpoint.key',
  runtime: 'io.warmpod.checkpoint.runtime',
  tenant: 'io.warmpod.checkpoint.tenant',
} as const;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** A CRIU image file name: flat, no path, nothing hidden. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const descriptor = z.object({
  mediaType: z.string(),
  digest: z.string().regex(SHA256, 'only sha256 blobs are supported'),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** What the config blob says about the checkpoint; read back before anything is fetched. */
export const checkpointConfigSchema = z.object({
  id: z.string().min(1),
  tenant: z.string().min(1),
  key: z.string().min(1),
  specKey: z.string().min(1),
  /** `runtimeKey` of the runtime it was taken under, and that runtime in full. */
  runtime: z.string().min(1),
  runtimeFingerprint: z.object({
    arch: z.string(),
    cpuFlags: z.array(z.string()),
    kernel: z.string(),
    criuVersion: z.string(),
    criuMode: z.string(),
    runcVersion: z.string(),
    // Absent in artifacts of nodes that lock with iptables (CRIU's default), as in their keys.
    criuNetworkLock: z.string().optional(),
  }),
  /** The pinned image digest the checkpointed pod ran. */
  digest: z.string().regex(SHA256),
  podId: z.string().min(1),
  createdAt: z.string(),
  /** Bytes of CRIU images and writable layer together (what a fetch writes). */
  contentBytes: z.number().int().nonnegative(),
});
export type CheckpointArtifactConfig = z.infer<typeof checkpointConfigSchema>;

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA.ociManifest),
  artifactType: z.literal(CHECKPOINT_ARTIFACT_TYPE),
  config: descriptor.extend({ mediaType: z.literal(CHECKPOINT_CONFIG_MEDIA) }),
  layers: z.array(descriptor).min(1).max(10_000),
  annotations: z.record(z.string(), z.string()).optional(),
});

export interface ArtifactBlob {
  digest: string;
  size: number;
}

export interface CheckpointArtifactFile extends ArtifactBlob {
  /** The CRIU image file's name in the images directory. */
  name: string;
}

/** The parts of a checkpoint artifact, checked: what a node fetches and where each blob goes. */
export interface CheckpointArtifactParts {
  config: ArtifactBlob;
  criuFiles: CheckpointArtifactFile[];
  rootfsDiff: ArtifactBlob;
  annotations: Record<string, string>;
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The repository a tenant's checkpoints live in: one per tenant, named by a hash (tenant names need not be OCI names). */
export function checkpointRepository(tenant: string): string {
  return `warmpod-checkpoints/t-${createHash('sha256').update(tenant).digest('hex').slice(0, 32)}`;
}

/** The manifest body of a checkpoint artifact (canonical: the same parts always give the same digest). */
export function buildCheckpointManifest(parts: CheckpointArtifactParts): Buffer {
  const sorted = [...parts.criuFiles].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const f of sorted) if (!FILE_NAME.test(f.name)) throw new Error(`checkpoint artifact: "${f.name}" is not a flat file name`);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_MEDIA, digest: parts.config.digest, size: parts.config.size },
    layers: [
      ...sorted.map((f) => ({ mediaType: CRIU_IMAGE_MEDIA, digest: f.digest, size: f.size, annotations: { [TITLE]: f.name } })),
      { mediaType: ROOTFS_DIFF_MEDIA, digest: parts.rootfsDiff.digest, size: parts.rootfsDiff.size },
    ],
    annotations: parts.annotations,
  };
  return Buffer.from(JSON.stringify(manifest));
}

/**
 * Reads a fetched manifest as a checkpoint artifact: the artifact type, one
 * writable-layer blob, CRIU files with flat, distinct names. Anything else is
 * refused with what is wrong, before a byte of content is fetched.
 */
export function parseCheckpointManifest(json: unknown): CheckpointArtifactParts {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not a warmpod checkpoint artifact: ${issue ? `${issue.path.join('.') || 'manifest'}: ${issue.message}` : 'invalid'}`);
  }
  const m = parsed.data;
  const diffs = m.layers.filter((l) => l.mediaType === ROOTFS_DIFF_MEDIA);
  if (diffs.length !== 1) throw new Error(`checkpoint artifact has ${diffs.length} writable-layer blobs, expected 1`);
  const names = new Set<string>();
  const criuFiles: CheckpointArtifactFile[] = [];
  for (const layer of m.layers) {
    if (layer.mediaType === ROOTFS_DIFF_MEDIA) continue;
    if (layer.mediaType !== CRIU_IMAGE_MEDIA) throw new Error(`checkpoint artifact has a layer of unknown type ${layer.mediaType}`);
    const name = layer.annotations?.[TITLE] ?? '';
    if (!FILE_NAME.test(name)) throw new Error(`checkpoint artifact names a CRIU file "${name}", not a flat file name`);
    if (names.has(name)) throw new Error(`checkpoint artifact names the CRIU file ${name} twice`);
    names.add(name);
    criuFiles.push({ name, digest: layer.digest, size: layer.size });
  }
  const diff = diffs[0]!;
  return {
    config: { digest: m.config.digest, size: m.config.size },
    criuFiles,
    rootfsDiff: { digest: diff.digest, size: diff.size },
    annotations: m.annotations ?? {},
  };
}
