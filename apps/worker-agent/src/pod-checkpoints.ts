import {
  checkpointKey,
  checkpointSpecKey,
  DEFAULT_QUARANTINE_AFTER,
  isRestorable,
  newId,
  runtimeKey,
  selectCheckpointsToDelete,
  type CheckpointRecord,
  type PodRecord,
  type RetentionPolicy,
  type RuntimeFingerprint,
} from '@warmpod/domain';
import type { CheckpointMessage } from '@warmpod/node-registry';
import type { CheckpointStore, RuncCheckpointer, StoredCheckpoint, WritableLayerArchive } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { CheckpointRepository } from '@warmpod/store';
import type { AgentMetrics } from './agent-metrics';
import { CheckpointFetchError } from './checkpoint-artifacts';
import { CheckpointCopies, type CheckpointTravel, type RestoreCandidate, type RestorePlan } from './checkpoint-copies';
import type { PodSandboxes } from './pod-sandbox';

export interface CheckpointTools {
  checkpointer: RuncCheckpointer;
  archive: WritableLayerArchive;
  store: CheckpointStore;
}

export type { CheckpointTravel, RemoteCheckpoint, RestoreCandidate, RestorePlan } from './checkpoint-copies';

/** A checkpoint could not be taken; the record says so already, the pod runs on. */
export class CheckpointFailedError extends Error {
  override readonly name = 'CheckpointFailedError';
  constructor(
    readonly checkpointId: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PodCheckpointsDeps {
  nodeId: string;
  /** The node's runtime fingerprint when `criu check` passed; undefined: not capable. */
  runtime: RuntimeFingerprint | undefined;
  records: CheckpointRepository;
  tools: CheckpointTools;
  /** Where a pod's writable layer is, to archive it. */
  sandboxes: Pick<PodSandboxes, 'upperDir'>;
  retention: RetentionPolicy;
  logger: Logger;
  metrics?: Pick<AgentMetrics, 'checkpointed'>;
  travel?: CheckpointTravel;
}

/**
 * This node's checkpoints: which one a start may restore from, taking one of
 * a ready pod (leaving it running), deleting, retention, and what the node
 * reports. The record in Redis and the files on disk are kept in step; every
 * failure is written on the record with its reason.
 */
export class PodCheckpoints {
  private readonly nodeId: string;
  private readonly runtime: RuntimeFingerprint | undefined;
  private readonly records: CheckpointRepository;
  private readonly tools: CheckpointTools;
  private readonly sandboxes: Pick<PodSandboxes, 'upperDir'>;
  private readonly retention: RetentionPolicy;
  private readonly logger: Logger;
  private readonly metrics: PodCheckpointsDeps['metrics'];
  private readonly travel: CheckpointTravel | undefined;
  private readonly copies: CheckpointCopies | undefined;

  constructor(deps: PodCheckpointsDeps) {
    this.metrics = deps.metrics;
    this.travel = deps.travel;
    this.copies = deps.travel
      ? new CheckpointCopies({
          nodeId: deps.nodeId,
          records: deps.records,
          store: deps.tools.store,
          travel: deps.travel,
          diskBudgetBytes: deps.retention.diskBudgetBytes,
          quarantineAfter: deps.retention.quarantineAfter ?? DEFAULT_QUARANTINE_AFTER,
          logger: deps.logger,
        })
      : undefined;
    this.nodeId = deps.nodeId;
    this.runtime = deps.runtime;
    this.records = deps.records;
    this.tools = deps.tools;
    this.sandboxes = deps.sandboxes;
    this.retention = deps.retention;
    this.logger = deps.logger;
    this.ownRuntimeKey = deps.runtime ? runtimeKey(deps.runtime) : undefined;
  }

  private readonly ownRuntimeKey: string | undefined;

  /** What PodSandboxes.restore needs. */
  get restoreTools(): Pick<CheckpointTools, 'checkpointer' | 'archive'> {
    return this.tools;
  }

  get capable(): boolean {
    return this.runtime !== undefined;
  }

  /** The full key of a pod on this node: spec and this node's runtime. */
  keyOf(pod: PodRecord): string {
    if (!this.runtime) throw new Error('this node cannot checkpoint');
    return checkpointKey({ tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec, runtime: this.runtime });
  }

  /**
   * The newest restorable checkpoint of this pod's key on this node; else
   * the newest one another node of the same runtime pushed to the registry
   * (a copy fetched earlier is used as it is). A record whose files are gone
   * (deleted by hand, disk lost) is marked deleted and the next one is
   * tried: a missing checkpoint is a normal start, not an error.
   */
  async findRestorable(pod: PodRecord): Promise<RestorePlan | undefined> {
    if (!this.capable) return undefined;
    return (await this.findLocal(pod)) ?? (await this.copies?.find(pod, this.keyOf(pod)));
  }

  /** A restore reads from this checkpoint until the release: a fetched copy is not evicted meanwhile (CheckpointCopies.hold). */
  async hold(record: CheckpointRecord): Promise<() => void> {
    return (await this.copies?.hold(record)) ?? (() => undefined);
  }

  /** Fetches a checkpoint another node pushed (see CheckpointCopies.fetch). */
  fetch(record: CheckpointRecord, signal?: AbortSignal): Promise<RestoreCandidate> {
    if (!this.copies) return Promise.reject(new CheckpointFetchError('this node has no checkpoint registry', false));
    return this.copies.fetch(record, signal);
  }

  private async findLocal(pod: PodRecord): Promise<RestoreCandidate | undefined> {
    const key = this.keyOf(pod);
    for (let i = 0; i < 5; i++) {
      const record = await this.records.latestRestorable(this.nodeId, key);
      if (!record) return undefined;
      let stored: StoredCheckpoint | undefined;
      try {
        stored = await this.tools.store.get(record.tenant, record.id);
      } catch (error) {
        // A read that failed (EIO, EACCES) says nothing about the files: start without them, keep the record.
        this.logger.warn({ checkpointId: record.id, err: messageOf(error) }, 'checkpoint files unreadable; starting without it');
        return undefined;
      }
      if (stored) return { record, imagesDir: stored.imagesDir, layerArchivePath: stored.layerArchivePath, sourcePodId: stored.podId };
      this.logger.warn({ checkpointId: record.id }, 'checkpoint files are missing on this node; forgetting it');
      await this.records.markDeleted(record.id, 'files missing on the node');
    }
    return undefined;
  }

  /**
   * Checkpoints a running pod, leaving it running: CRIU images and the
   * writable layer, taken while the pod is paused so the two agree, stored
   * under the tenant, then recorded available. The caller waited for the
   * pod's readiness (PodReadiness); the pending record is written now, so its
   * createdAt is when the checkpoint began (an on-demand request wrote it
   * already: `checkpointId`). On any failure the draft is
   * removed, the record says checkpoint_failed with the reason, and
   * CheckpointFailedError is thrown.
   */
  async take(pod: PodRecord, opts: { checkpointId?: string } = {}): Promise<CheckpointRecord> {
    const id = opts.checkpointId ?? newId('ckpt');
    if (!this.runtime) throw new CheckpointFailedError(id, 'this node cannot checkpoint: criu check failed');
    const fail = async (error: unknown): Promise<never> => {
      const reason = messageOf(error).slice(0, 2000);
      await this.records.markCheckpointFailed(id, reason);
      this.logger.warn({ checkpointId: id, err: reason }, 'no checkpoint taken; the pod keeps running');
      throw new CheckpointFailedError(id, reason);
    };
    const { record } = await this.records.create({
      id,
      key: this.keyOf(pod),
      specKey: checkpointSpecKey({ tenant: pod.tenant, digest: pod.image.digest, spec: pod.spec }),
      runtime: runtimeKey(this.runtime),
      tenant: pod.tenant,
      node: this.nodeId,
      pod: pod.id,
      digest: pod.image.digest,
      createdAt: new Date().toISOString(),
    });
    if (record.state === 'available') return record; // a job run twice
    if (record.state !== 'pending')
      throw new CheckpointFailedError(id, `checkpoint ${id} is ${record.state}${record.reason ? `: ${record.reason}` : ''}`);
    const started = Date.now();
    let stored: StoredCheckpoint;
    try {
      stored = await this.capture(pod, id);
    } catch (error) {
      this.metrics?.checkpointed(started, 'failure');
      return fail(error);
    }
    this.metrics?.checkpointed(started, 'success');
    const moved = await this.records.markAvailable(id, stored.sizeBytes);
    if (!moved.applied) {
      // Deleted through the API while it was being taken: its files go too.
      await this.tools.store.delete(pod.tenant, id).catch(() => undefined);
      throw new CheckpointFailedError(
        id,
        `checkpoint ${id} was ${moved.why === 'not-found' ? 'removed' : `moved to ${moved.state}`} while it was taken`,
      );
    }
    this.logger.info({ checkpointId: id, sizeBytes: stored.sizeBytes, ms: Date.now() - started }, 'checkpoint available');
    // Off the start path: the pod is exposed without waiting for its checkpoint to travel.
    void this.travel?.pusher.push(id).catch(() => undefined);
    await this.applyRetention().catch((e: unknown) => this.logger.warn({ err: messageOf(e) }, 'checkpoint retention failed'));
    return moved.record;
  }

  /** An on-demand checkpoint that cannot even start (pod gone, not running here). */
  async refuse(checkpointId: string, reason: string): Promise<void> {
    await this.records.markCheckpointFailed(checkpointId, reason);
  }

  private async capture(pod: PodRecord, id: string): Promise<StoredCheckpoint> {
    const { checkpointer, archive, store } = this.tools;
    const draft = await store.begin(pod.tenant, id);
    try {
      await checkpointer.pause(pod.id);
      try {
        await archive.archive(this.sandboxes.upperDir(pod.id), draft.layerArchivePath);
        await checkpointer.checkpoint(pod.id, draft.imagesDir, { leaveRunning: true });
      } finally {
        await checkpointer.resume(pod.id).catch((e: unknown) => this.logger.warn({ err: messageOf(e) }, 'resume after checkpoint failed'));
      }
      return await draft.commit({ key: this.keyOf(pod), digest: pod.image.digest, podId: pod.id });
    } catch (error) {
      await draft.abort();
      throw error;
    }
  }

  /** A restore worked: the checkpoint stays restorable (and leaves restore_failed if it was there). */
  async restored(record: CheckpointRecord): Promise<void> {
    await this.records.markRestored(record.id);
  }

  /** Counts a failed restore on the checkpoint; after k failures it is quarantined and its files go. */
  async restoreFailed(record: CheckpointRecord, reason: string): Promise<void> {
    const moved = await this.records.markRestoreFailed(record.id, reason.slice(0, 2000));
    this.logger.warn(
      { checkpointId: record.id, reason, quarantined: moved.applied && moved.quarantined },
      'restore failed; falling back to a normal start',
    );
    if (moved.applied && moved.quarantined) await this.applyRetention().catch(() => undefined);
  }

  /**
   * The delete-checkpoint job: files first (the node's own or a fetched
   * copy), then the registry artifact, then the record says deleted. Safe to
   * run twice, on every node that holds it.
   */
  async remove(checkpointId: string): Promise<void> {
    const record = await this.records.get(checkpointId);
    if (!record) return;
    await this.tools.store.delete(record.tenant, record.id);
    if (record.node !== this.nodeId) {
      await this.records.removeCopy(record.id, this.nodeId);
      return;
    }
    await this.copies?.deleteArtifact(record);
    if (record.state !== 'deleted') await this.records.markDeleted(record.id, 'deleted on request');
  }

  /** Retention: latest N per key, max age, disk budget; dead checkpoints go at once. */
  async applyRetention(now = Date.now()): Promise<number> {
    const records = await this.records.listByNode(this.nodeId);
    const decision = selectCheckpointsToDelete(records, this.retention, now);
    for (const { id, reason } of decision.delete) {
      const record = records.find((r) => r.id === id);
      if (!record) continue;
      await this.tools.store.delete(record.tenant, id);
      await this.records.markDeleted(id, `retention: ${reason}`);
      await this.copies?.deleteArtifact(record);
    }
    if (decision.delete.length > 0)
      this.logger.info({ deleted: decision.delete.length, keptBytes: decision.keptBytes }, 'checkpoint retention');
    return decision.delete.length + ((await this.copies?.dropDead()) ?? 0) + ((await this.copies?.makeRoom(0)) ?? 0);
  }

  /**
   * What the node reports: its restorable checkpoints whose full key matches
   * this node's runtime now, under their spec key (what the scheduler matches).
   */
  async inventory(): Promise<CheckpointMessage[]> {
    if (!this.runtime) return [];
    const onDisk = await this.tools.store.list();
    const records = await this.records.listByNode(this.nodeId);
    // Fetched copies count as this node's: a later pod of the spec restores here without fetching.
    for (const s of onDisk) {
      if (records.some((r) => r.id === s.id)) continue;
      const copy = await this.records.get(s.id);
      if (copy) records.push(copy);
    }
    const stored = new Set(onDisk.map((s) => `${s.tenant}/${s.id}`));
    return (
      records
        .filter((r) => isRestorable(r, this.retention.quarantineAfter) && stored.has(`${r.tenant}/${r.id}`))
        // Taken under another runtime (CRIU or kernel upgraded since): not restorable here any more.
        .filter((r) => r.runtime === this.ownRuntimeKey)
        .map((r) => ({ id: r.id, key: r.specKey, state: r.state, sizeBytes: r.sizeBytes }))
    );
  }

  /** Files of checkpoints whose records are gone (or deleted): removed at start. */
  async sweepOrphans(): Promise<number> {
    await this.tools.store.removeAbandoned();
    let removed = 0;
    for (const stored of await this.tools.store.list()) {
      const record = await this.records.get(stored.id);
      // Its own checkpoints, and copies it fetched (the copy set says so), stay while the record lives.
      if (record && record.state !== 'deleted' && record.node === this.nodeId) continue;
      if (record && record.state !== 'deleted' && (await this.records.copiesOf(record.id)).includes(this.nodeId)) continue;
      await this.tools.store.delete(stored.tenant, stored.id);
      removed++;
    }
    return removed;
  }
}
