/** Checkpoints of the fake node (testing/fake-node.ts) whose outcomes a spec chooses. Test code only. */
import { newId, type CheckpointRecord, type PodRecord } from '@warmpod/domain';
import { CheckpointFailedError, type RestoreCandidate, type RestorePlan } from '../pod-checkpoints';

/** The fake node's id. */
export const NODE = 'node-a';

export class FakeCheckpoints {
  capable = true;
  /** What findRestorable offers; a lookup is counted either way. */
  candidate?: RestorePlan;
  /** What fetching a remote candidate does: undefined fetches it, an error fails the fetch. */
  fetchBehaviour?: Error;
  readonly fetched: string[] = [];
  lookups = 0;
  readonly taken: CheckpointRecord[] = [];
  readonly restoredFrom: string[] = [];
  readonly restoreFailures: Array<{ id: string; reason: string }> = [];
  readonly refused: Array<{ id: string; reason: string }> = [];
  readonly restoreTools = {
    checkpointer: { restore: async () => ({ pid: 1, ms: 1, limitCpu: async () => undefined }), verifyImages: async () => undefined },
    archive: { unpack: async () => ({ ms: 1 }) },
  };

  /** A compatible checkpoint of this pod's key on this node. */
  offer(of: PodRecord): RestoreCandidate {
    this.candidate = {
      record: checkpointRecord(of, newId('ckpt')),
      imagesDir: '/ck/images',
      layerArchivePath: '/ck/layer.tar',
      sourcePodId: of.id,
    };
    return this.candidate;
  }

  /** A compatible checkpoint another node pushed: it must be fetched first. */
  offerRemote(of: PodRecord): RestorePlan {
    this.candidate = { record: { ...checkpointRecord(of, newId('ckpt')), node: 'node-b' }, remote: true };
    return this.candidate;
  }

  /** Checkpoints held by a restore now (hold without its release yet). */
  readonly held = new Set<string>();

  async hold(record: CheckpointRecord): Promise<() => void> {
    this.held.add(record.id);
    return () => this.held.delete(record.id);
  }

  async fetch(record: CheckpointRecord): Promise<RestoreCandidate> {
    if (this.fetchBehaviour) throw this.fetchBehaviour;
    this.fetched.push(record.id);
    return { record, imagesDir: '/ck/fetched/images', layerArchivePath: '/ck/fetched/layer.tar', sourcePodId: record.pod };
  }

  async findRestorable(): Promise<RestorePlan | undefined> {
    this.lookups++;
    return this.capable ? this.candidate : undefined;
  }

  /** Set: the next checkpoint fails with this reason. */
  failTake?: string;

  async take(pod: PodRecord, opts: { checkpointId?: string } = {}): Promise<CheckpointRecord> {
    const id = opts.checkpointId ?? newId('ckpt');
    if (this.failTake) throw new CheckpointFailedError(id, this.failTake);
    const record = checkpointRecord(pod, id);
    this.taken.push(record);
    return record;
  }

  async restored(record: CheckpointRecord): Promise<void> {
    this.restoredFrom.push(record.id);
  }

  async restoreFailed(record: CheckpointRecord, reason: string): Promise<void> {
    this.restoreFailures.push({ id: record.id, reason });
  }

  async refuse(checkpointId: string, reason: string): Promise<void> {
    this.refused.push({ id: checkpointId, reason });
  }
}

function checkpointRecord(pod: PodRecord, id: string): CheckpointRecord {
  return {
    id,
    key: 'key',
    specKey: 'spec-key',
    runtime: 'runtime',
    tenant: pod.tenant,
    node: NODE,
    pod: pod.id,
    digest: pod.image.digest,
    state: 'available',
    sizeBytes: 4096,
    createdAt: new Date().toISOString(),
    restoreFailures: 0,
  };
}
