import { checkpointSpecKey, isRestorable, type CheckpointRecord, type PodRecord } from '@warmpod/domain';
import type { CheckpointStore } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { CheckpointRepository } from '@warmpod/store';
import { CheckpointFetchError, type CheckpointArtifacts } from './checkpoint-artifacts';
import type { CheckpointPusher } from './checkpoint-pusher';
import type { CheckpointRegistrySweep } from './checkpoint-registry-sweep';
import type { RestoreSource } from './pod-sandbox';

/** A restorable checkpoint on this node (its own or a fetched copy), its record and its files. */
export interface RestoreCandidate extends RestoreSource {
  record: CheckpointRecord;
}

/** A compatible checkpoint another node took and pushed: `fetch` brings it here first. */
export interface RemoteCheckpoint {
  record: CheckpointRecord;
  remote: true;
}

export type RestorePlan = RestoreCandidate | RemoteCheckpoint;

/** The registry side of checkpoints; absent when no checkpoint registry is configured. */
export interface CheckpointTravel {
  artifacts: Pick<CheckpointArtifacts, 'fetch' | 'delete'>;
  pusher: Pick<CheckpointPusher, 'push'>;
  sweep: Pick<CheckpointRegistrySweep, 'deleteArtifact'>;
}

export interface CheckpointCopiesDeps {
  nodeId: string;
  records: Pick<CheckpointRepository, 'latestArtifact' | 'addCopy' | 'removeCopy' | 'get'>;
  store: Pick<CheckpointStore, 'get' | 'delete' | 'list' | 'totalBytes' | 'markUsed' | 'lastUsed'>;
  travel: CheckpointTravel;
  /** Bytes all checkpoints on this node may take: fetched copies are evicted, least recently used first, to stay within it. */
  diskBudgetBytes: number;
  quarantineAfter: number;
  logger: Logger;
}

/**
 * Checkpoints other nodes took, on this node: finding a pushed one of a
 * pod's full key, fetching it (recorded as a copy so a delete reaches it),
 * dropping copies no start may restore any more, and deleting artifacts.
 */
export class CheckpointCopies {
  /** Checkpoints a restore is reading from (count per id): never evicted meanwhile. */
  private readonly held = new Map<string, number>();

  constructor(private readonly deps: CheckpointCopiesDeps) {}

  /**
   * A restore starts from checkpoint `id`: it counts as used now (LRU) and
   * no eviction removes it until the returned release is called (once its
   * files are read: after `runc restore`).
   */
  async hold(record: Pick<CheckpointRecord, 'id' | 'tenant'>): Promise<() => void> {
    this.held.set(record.id, (this.held.get(record.id) ?? 0) + 1);
    await this.deps.store.markUsed(record.tenant, record.id).catch(() => undefined);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(record.id) ?? 1) - 1;
      if (left > 0) this.held.set(record.id, left);
      else this.held.delete(record.id);
    };
  }

  /**
   * Evicts fetched copies (never this node's own checkpoints: retention
   * governs those), least recently used first and never one a restore
   * holds, until `bytes` more fit the disk budget. Returns how many went;
   * the copy set is updated, so placement stops counting on them.
   */
  async makeRoom(bytes: number): Promise<number> {
    const { store, records, nodeId, diskBudgetBytes, logger } = this.deps;
    let used = await store.totalBytes();
    if (used + bytes <= diskBudgetBytes) return 0;
    const copies: Array<{ tenant: string; id: string; sizeBytes: number; usedAt: number }> = [];
    for (const stored of await store.list()) {
      if (this.held.has(stored.id)) continue;
      const record = await records.get(stored.id);
      if (record?.node === nodeId) continue;
      const usedAt = (await store.lastUsed(stored.tenant, stored.id))?.getTime() ?? 0;
      copies.push({ tenant: stored.tenant, id: stored.id, sizeBytes: stored.sizeBytes, usedAt });
    }
    copies.sort((a, b) => a.usedAt - b.usedAt || a.id.localeCompare(b.id));
    let evicted = 0;
    for (const copy of copies) {
      if (used + bytes <= diskBudgetBytes) break;
      // Out of the copy set first: a delete job then no longer counts on this node, and a start here no longer finds it.
      await records.removeCopy(copy.id, nodeId);
      if (await store.delete(copy.tenant, copy.id)) used -= copy.sizeBytes;
      evicted++;
    }
    if (evicted > 0) logger.info({ evicted, usedBytes: used, budgetBytes: diskBudgetBytes }, 'fetched checkpoint copies evicted (LRU)');
    return evicted;
  }

  /** The newest pushed checkpoint of the pod's full key (same tenant, digest, spec, runtime); a copy held here is used as is. */
  async find(pod: PodRecord, key: string): Promise<RestorePlan | undefined> {
    const { records, store } = this.deps;
    const specKey = checkpointSpecKey({ tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec });
    const record = await records.latestArtifact(specKey, key);
    if (!record || record.tenant !== pod.tenant) return undefined;
    const copy = await store.get(record.tenant, record.id).catch(() => undefined);
    if (copy) return { record, imagesDir: copy.imagesDir, layerArchivePath: copy.layerArchivePath, sourcePodId: copy.podId };
    return { record, remote: true };
  }

  /**
   * Fetches a pushed checkpoint into this node's store and records the copy.
   * CheckpointFetchError says whether the artifact itself was at fault;
   * nothing of a failed fetch stays.
   */
  async fetch(record: CheckpointRecord, signal?: AbortSignal): Promise<RestoreCandidate> {
    const { records, store, travel, nodeId, logger } = this.deps;
    const started = Date.now();
    await this.makeRoom(record.artifactBytes ?? 0);
    const stored = await travel.artifacts.fetch(record, signal);
    if (!(await records.addCopy(record.id, nodeId))) {
      await store.delete(record.tenant, record.id).catch(() => undefined);
      throw new CheckpointFetchError(`checkpoint ${record.id} was deleted while it was fetched`, false);
    }
    logger.info({ checkpointId: record.id, sizeBytes: stored.sizeBytes, ms: Date.now() - started }, 'checkpoint fetched from the registry');
    // Every blob was checked against its digest as it was written: a second read of 256 MiB would only cost.
    return {
      record,
      imagesDir: stored.imagesDir,
      layerArchivePath: stored.layerArchivePath,
      sourcePodId: stored.podId,
      imagesVerified: true,
    };
  }

  /** Fetched copies of checkpoints no start may restore any more (deleted, quarantined): removed. */
  async dropDead(): Promise<number> {
    const { records, store, nodeId, quarantineAfter } = this.deps;
    let dropped = 0;
    for (const stored of await store.list()) {
      const record = await records.get(stored.id);
      if (record?.node === nodeId) continue;
      if (record && isRestorable(record, quarantineAfter)) continue;
      await store.delete(stored.tenant, stored.id);
      if (record) await records.removeCopy(record.id, nodeId);
      dropped++;
    }
    return dropped;
  }

  /**
   * The registry artifact of a checkpoint of this node that is gone: noted,
   * then deleted; a registry that is down leaves it to the sweep's next pass.
   * The blobs are the registry's garbage collection's.
   */
  deleteArtifact(record: CheckpointRecord): Promise<void> {
    return this.deps.travel.sweep.deleteArtifact(record);
  }
}
