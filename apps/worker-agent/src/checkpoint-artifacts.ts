import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointRecord, RuntimeFingerprint } from '@warmpod/domain';
import type { CheckpointStore, StoredCheckpoint } from '@warmpod/node-runtime';
import { messageOf } from '@warmpod/observability';
import {
  buildCheckpointManifest,
  CHECKPOINT_ANNOTATIONS,
  checkpointConfigSchema,
  checkpointRepository,
  MEDIA,
  parseCheckpointManifest,
  RegistryError,
  sha256Digest,
  type CheckpointArtifactConfig,
  type CheckpointArtifactFile,
  type RegistryClient,
} from '@warmpod/registry';

export type ArtifactRegistry = Pick<RegistryClient, 'pushBlob' | 'putManifest' | 'fetchManifest' | 'fetchBlob' | 'deleteManifest'>;

export interface CheckpointArtifactsDeps {
  registry: ArtifactRegistry;
  /** `host:port` of the registry checkpoints are pushed to. */
  host: string;
  runtime: RuntimeFingerprint;
  runtimeKey: string;
  store: Pick<CheckpointStore, 'begin' | 'totalBytes'>;
  /** Bytes all checkpoints on this node may take: a fetch that does not fit is refused. */
  diskBudgetBytes: number;
}

/**
 * A fetch that failed. `damaged`: the artifact itself is at fault (missing,
 * not a checkpoint, a digest that does not match), which counts as a restore
 * failure on the checkpoint; otherwise (registry down, no room) the
 * checkpoint is fine and only this start falls back.
 */
export class CheckpointFetchError extends Error {
  override readonly name = 'CheckpointFetchError';
  constructor(
    message: string,
    readonly damaged: boolean,
  ) {
    super(message);
  }
}

/** Blobs moved at once: a checkpoint is dozens of small CRIU files, and each is a request or three. */
const TRANSFERS = 6;

/**
 * Runs `work` on every item, at most `limit` at a time; once one fails no
 * more start, every started one is awaited (so nothing writes after the
 * caller cleans up), then the first error is thrown.
 */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

async function fileDigest(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Checkpoints as content-addressed OCI artifacts in the registry, in one
 * repository per tenant: push after a checkpoint is taken, fetch (every blob
 * verified by digest, within the disk budget) on a node of the same runtime
 * that does not hold it, delete with the checkpoint.
 */
export class CheckpointArtifacts {
  constructor(private readonly deps: CheckpointArtifactsDeps) {}

  /** Pushes a stored checkpoint; returns the manifest digest and the bytes a fetch will write. */
  async push(record: CheckpointRecord, stored: StoredCheckpoint): Promise<{ artifact: string; bytes: number }> {
    const { registry, host } = this.deps;
    const repo = checkpointRepository(record.tenant);
    const criuFiles: CheckpointArtifactFile[] = [];
    const names = (await readdir(stored.imagesDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    await eachLimited(names, TRANSFERS, async (name) => {
      const path = join(stored.imagesDir, name);
      const blob = await fileDigest(path);
      await registry.pushBlob(host, repo, blob, path);
      criuFiles.push({ name, ...blob });
    });
    const rootfsDiff = await fileDigest(stored.layerArchivePath);
    await registry.pushBlob(host, repo, rootfsDiff, stored.layerArchivePath);
    const contentBytes = criuFiles.reduce((sum, f) => sum + f.size, rootfsDiff.size);
    const config: CheckpointArtifactConfig = {
      id: record.id,
      tenant: record.tenant,
      key: record.key,
      specKey: record.specKey,
      runtime: record.runtime,
      runtimeFingerprint: { ...this.deps.runtime, cpuFlags: [...this.deps.runtime.cpuFlags] },
      digest: record.digest,
      podId: record.pod,
      createdAt: record.createdAt,
      contentBytes,
    };
    const configBody = Buffer.from(JSON.stringify(config));
    const configBlob = { digest: sha256Digest(configBody), size: configBody.length };
    await registry.pushBlob(host, repo, configBlob, configBody);
    const manifest = buildCheckpointManifest({
      config: configBlob,
      criuFiles,
      rootfsDiff,
      annotations: {
        [CHECKPOINT_ANNOTATIONS.id]: record.id,
        [CHECKPOINT_ANNOTATIONS.key]: record.key,
        [CHECKPOINT_ANNOTATIONS.runtime]: record.runtime,
        [CHECKPOINT_ANNOTATIONS.tenant]: record.tenant,
      },
    });
    const artifact = await registry.putManifest(host, repo, manifest, MEDIA.ociManifest);
    return { artifact, bytes: contentBytes };
  }

  /**
   * Fetches a checkpoint's artifact into this node's store under its id:
   * manifest and every blob verified by digest, the config checked against
   * the record (same id, tenant and full key, taken under this node's
   * runtime). Nothing is left behind when it fails.
   */
  async fetch(record: CheckpointRecord, signal?: AbortSignal): Promise<StoredCheckpoint> {
    const { registry, host, store } = this.deps;
    if (!record.artifact) throw new CheckpointFetchError(`checkpoint ${record.id} has no artifact in the registry`, false);
    if (record.runtime !== this.deps.runtimeKey) {
      throw new CheckpointFetchError(`checkpoint ${record.id} was taken under another runtime (${record.runtime})`, false);
    }
    const repo = checkpointRepository(record.tenant);
    const fail = (what: string, error: unknown): CheckpointFetchError => {
      if (error instanceof CheckpointFetchError) return error;
      const damaged = !(error instanceof RegistryError) || error.kind === 'not-found' || error.kind === 'invalid';
      return new CheckpointFetchError(`fetching checkpoint ${record.id} from the registry: ${what}: ${messageOf(error)}`, damaged);
    };
    let parts;
    try {
      const manifest = await registry.fetchManifest(host, repo, record.artifact);
      parts = parseCheckpointManifest(JSON.parse(manifest.body.toString('utf8')));
    } catch (error) {
      throw fail('manifest', error);
    }
    const bytes = parts.criuFiles.reduce((sum, f) => sum + f.size, parts.rootfsDiff.size);
    const used = await store.totalBytes();
    if (used + bytes > this.deps.diskBudgetBytes) {
      throw new CheckpointFetchError(
        `checkpoint ${record.id} needs ${bytes} bytes, but this node's checkpoints use ${used} of a ${this.deps.diskBudgetBytes}-byte budget`,
        false,
      );
    }
    const draft = await store.begin(record.tenant, record.id);
    try {
      const configPath = join(draft.dir, 'artifact-config.json');
      await registry.fetchBlob(host, repo, parts.config.digest, parts.config.size, configPath).catch((e: unknown) => {
        throw fail('config', e);
      });
      const config = checkpointConfigSchema.safeParse(JSON.parse(await readFile(configPath, 'utf8')));
      await rm(configPath, { force: true });
      if (!config.success) throw new CheckpointFetchError(`checkpoint ${record.id}: its artifact's config is invalid`, true);
      const c = config.data;
      if (c.id !== record.id || c.tenant !== record.tenant || c.key !== record.key || c.runtime !== this.deps.runtimeKey) {
        throw new CheckpointFetchError(`checkpoint ${record.id}: its artifact belongs to another checkpoint, tenant or runtime`, true);
      }
      await mkdir(draft.imagesDir, { mode: 0o700 });
      await eachLimited(parts.criuFiles, TRANSFERS, async (file) => {
        signal?.throwIfAborted();
        await registry.fetchBlob(host, repo, file.digest, file.size, join(draft.imagesDir, file.name)).catch((e: unknown) => {
          throw fail(`CRIU image ${file.name}`, e);
        });
      });
      signal?.throwIfAborted();
      await registry.fetchBlob(host, repo, parts.rootfsDiff.digest, parts.rootfsDiff.size, draft.layerArchivePath).catch((e: unknown) => {
        throw fail('writable layer', e);
      });
      if ((await stat(draft.layerArchivePath)).size !== parts.rootfsDiff.size)
        throw new CheckpointFetchError('writable layer size changed', true);
      return await draft.commit({ key: record.key, digest: record.digest, podId: record.pod });
    } catch (error) {
      await draft.abort();
      throw error;
    }
  }

  /** Deletes the artifact's manifest (its blobs go with the registry's garbage collection); false when it was gone. */
  delete(tenant: string, artifact: string): Promise<boolean> {
    return this.deps.registry.deleteManifest(this.deps.host, checkpointRepository(tenant), artifact);
  }
}
