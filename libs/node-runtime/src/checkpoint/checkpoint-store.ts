import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { messageOf, type Logger } from '@warmpod/observability';
import { NodeRuntimeError, quietLogger } from '../errors';
import { exists, randomSuffix, writeFileAtomic } from '../files';

export interface CheckpointStoreOptions {
  /** The node's data dir; checkpoints live in `<dataDir>/checkpoints/<tenant>/<id>/`. */
  dataDir: string;
  logger?: Logger;
}

/** What is recorded with a checkpoint when it is committed. */
export interface CheckpointMeta {
  key: string;
  digest: string;
  /** The pod it was taken from. */
  podId: string;
}

export interface StoredCheckpoint extends CheckpointMeta {
  id: string;
  tenant: string;
  dir: string;
  /** CRIU images (`runc checkpoint --image-path`). */
  imagesDir: string;
  /** The pod's writable layer (`WritableLayerArchive`). */
  layerArchivePath: string;
  sizeBytes: number;
  createdAt: string;
}

/** A checkpoint being written: nothing of it is visible under its id until `commit`. */
export interface CheckpointDraft {
  id: string;
  tenant: string;
  /** Staging dir, mode 0700; `imagesDir` does not exist yet (the checkpointer creates it). */
  dir: string;
  imagesDir: string;
  layerArchivePath: string;
  /** Measures the size, writes meta.json and renames the draft to its id in one step. */
  commit(meta: CheckpointMeta, now?: Date): Promise<StoredCheckpoint>;
  /** Removes everything the draft holds; safe to call after a failed commit or twice. */
  abort(): Promise<void>;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const STAGING = '.staging-';
const DELETING = '.deleting-';
const META = 'meta.json';
const IMAGES = 'criu';
const LAYER = 'rootfs-diff.tar';

const metaSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  key: z.string(),
  digest: z.string(),
  podId: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  createdAt: z.string(),
});

/**
 * Node-local checkpoint storage: `<dataDir>/checkpoints/<tenant>/<id>/` with
 * `criu/` (images), `rootfs-diff.tar` (writable layer) and `meta.json`, every
 * directory mode 0700. A checkpoint is written in a staging directory beside
 * its final place and renamed there only when complete, so a failure (or a
 * crash) never leaves a half-written checkpoint under a real id. Deletion
 * renames first too, so a checkpoint vanishes at once and whole.
 */
export class CheckpointStore {
  readonly root: string;
  private readonly logger: Logger;

  constructor(opts: CheckpointStoreOptions) {
    this.root = join(resolve(opts.dataDir), 'checkpoints');
    this.logger = opts.logger ?? quietLogger();
  }

  /** Starts a checkpoint; refuses an id that already exists for the tenant. */
  async begin(tenant: string, id: string): Promise<CheckpointDraft> {
    checkName('tenant', tenant);
    checkName('checkpoint id', id);
    const tenantDir = await this.tenantDir(tenant);
    const finalDir = join(tenantDir, id);
    if (await exists(finalDir)) throw new NodeRuntimeError('begin checkpoint', `checkpoint ${tenant}/${id} already exists`);
    const dir = join(tenantDir, `${STAGING}${id}-${randomSuffix()}`);
    await mkdir(dir, { mode: 0o700 });
    const abort = (): Promise<void> => rm(dir, { recursive: true, force: true, maxRetries: 3 });
    const commit = async (meta: CheckpointMeta, now = new Date()): Promise<StoredCheckpoint> => {
      try {
        if (!(await exists(join(dir, IMAGES)))) throw new Error('the draft holds no CRIU images');
        if (!(await exists(join(dir, LAYER)))) throw new Error('the draft holds no writable-layer archive');
        const sizeBytes = await diskBytes(dir);
        const record = { id, tenant, key: meta.key, digest: meta.digest, podId: meta.podId, sizeBytes, createdAt: now.toISOString() };
        await writeFileAtomic(join(dir, META), JSON.stringify(record, null, 2), 0o600);
        // rename(2) onto a non-empty directory fails: a racing commit of the same id cannot overwrite.
        await rename(dir, finalDir);
        this.logger.info({ tenant, id, sizeBytes }, 'checkpoint stored');
        return this.describe(tenantDir, record);
      } catch (error) {
        await abort();
        throw new NodeRuntimeError('commit checkpoint', `${tenant}/${id}: ${messageOf(error)}`, meta.podId, { cause: error });
      }
    };
    return { id, tenant, dir, imagesDir: join(dir, IMAGES), layerArchivePath: join(dir, LAYER), commit, abort };
  }

  async get(tenant: string, id: string): Promise<StoredCheckpoint | undefined> {
    checkName('tenant', tenant);
    checkName('checkpoint id', id);
    const tenantDir = join(this.root, tenant);
    // Only a checkpoint that is not there is absent: any other read error (EIO, EACCES) is a failure, never "gone".
    const text = await readFile(join(tenantDir, id, META), 'utf8').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new NodeRuntimeError('read checkpoint', `${tenant}/${id}: ${messageOf(error)}`, undefined, { cause: error });
    });
    if (text === undefined) return undefined;
    const parsed = metaSchema.safeParse(JSON.parse(text));
    if (!parsed.success || parsed.data.id !== id || parsed.data.tenant !== tenant) {
      throw new NodeRuntimeError('read checkpoint', `${tenant}/${id}: meta.json is invalid`);
    }
    return this.describe(tenantDir, parsed.data);
  }

  /** Every committed checkpoint on this node (what the agent reports in its inventory). */
  async list(): Promise<StoredCheckpoint[]> {
    const found: StoredCheckpoint[] = [];
    for (const tenant of await listDirs(this.root)) {
      if (!SAFE_NAME.test(tenant)) continue;
      for (const id of await listDirs(join(this.root, tenant))) {
        if (!SAFE_NAME.test(id)) continue;
        const checkpoint = await this.get(tenant, id).catch((error: unknown) => {
          this.logger.warn({ tenant, id, err: messageOf(error) }, 'skipping an unreadable checkpoint');
          return undefined;
        });
        if (checkpoint) found.push(checkpoint);
      }
    }
    return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Notes that a restore used the checkpoint (meta.json's mtime): what least-recently-used eviction orders by. */
  async markUsed(tenant: string, id: string, at = new Date()): Promise<void> {
    checkName('tenant', tenant);
    checkName('checkpoint id', id);
    await utimes(join(this.root, tenant, id, META), at, at).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }

  /** When a restore last used the checkpoint (else when it was committed); undefined when it is not here. */
  async lastUsed(tenant: string, id: string): Promise<Date | undefined> {
    checkName('tenant', tenant);
    checkName('checkpoint id', id);
    return stat(join(this.root, tenant, id, META)).then(
      (s) => s.mtime,
      () => undefined,
    );
  }

  /** Bytes all committed checkpoints take (what retention compares with the disk budget). */
  async totalBytes(): Promise<number> {
    return (await this.list()).reduce((sum, c) => sum + c.sizeBytes, 0);
  }

  /** Removes a checkpoint; false when there was none. */
  async delete(tenant: string, id: string): Promise<boolean> {
    checkName('tenant', tenant);
    checkName('checkpoint id', id);
    const tenantDir = join(this.root, tenant);
    const doomed = join(tenantDir, `${DELETING}${id}-${randomSuffix()}`);
    try {
      await rename(join(tenantDir, id), doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new NodeRuntimeError('delete checkpoint', `${tenant}/${id}: ${messageOf(error)}`, undefined, { cause: error });
    }
    await rm(doomed, { recursive: true, force: true, maxRetries: 3 });
    this.logger.info({ tenant, id }, 'checkpoint deleted');
    return true;
  }

  /** Removes drafts and deletions a crash left behind; run when the agent starts. Returns how many. */
  async removeAbandoned(): Promise<number> {
    let removed = 0;
    for (const tenant of await listDirs(this.root)) {
      for (const name of await listDirs(join(this.root, tenant))) {
        if (name.startsWith(STAGING) || name.startsWith(DELETING)) {
          await rm(join(this.root, tenant, name), { recursive: true, force: true, maxRetries: 3 });
          removed++;
        }
      }
    }
    if (removed > 0) this.logger.info({ removed }, 'removed abandoned checkpoint drafts');
    return removed;
  }

  private describe(tenantDir: string, meta: z.infer<typeof metaSchema>): StoredCheckpoint {
    const dir = join(tenantDir, meta.id);
    return { ...meta, dir, imagesDir: join(dir, IMAGES), layerArchivePath: join(dir, LAYER) };
  }

  private async tenantDir(tenant: string): Promise<string> {
    const dir = join(this.root, tenant);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing directory's mode alone: checkpoints hold process memory, so enforce it.
    await chmod(this.root, 0o700);
    await chmod(dir, 0o700);
    return dir;
  }
}

function checkName(what: string, value: string): void {
  if (!SAFE_NAME.test(value)) throw new NodeRuntimeError('use checkpoint store', `${what} "${value}" is not a safe name`);
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Bytes allocated on disk under `path` (like `du -B1`): sparse CRIU page images count for what they use. */
export async function diskBytes(path: string): Promise<number> {
  const st = await lstat(path);
  let total = st.blocks * 512;
  if (st.isDirectory()) {
    for (const name of await readdir(path)) total += await diskBytes(join(path, name));
  }
  return total;
}
