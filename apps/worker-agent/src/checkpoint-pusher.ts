import { isRestorable } from '@warmpod/domain';
import type { CheckpointStore } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { CheckpointRepository } from '@warmpod/store';
import type { CheckpointArtifacts } from './checkpoint-artifacts';

export interface CheckpointPusherDeps {
  nodeId: string;
  records: Pick<CheckpointRepository, 'get' | 'listByNode' | 'setArtifact' | 'notePushFailure' | 'queueArtifactDelete'>;
  store: Pick<CheckpointStore, 'get'>;
  artifacts: Pick<CheckpointArtifacts, 'push' | 'delete'>;
  /** How often checkpoints whose push failed (registry down) are tried again. */
  retryMs: number;
  /** Run after each retry pass: checkpoints of gone nodes, artifacts noted for deletion (CheckpointRegistrySweep). */
  sweep?: { run(): Promise<unknown> };
  logger: Logger;
}

/**
 * Pushes this node's checkpoints to the registry, one at a time, off the
 * start path: a pod never waits for its checkpoint to travel. A push that
 * fails is written on the record (`pushError`) and tried again on a timer;
 * the checkpoint stays restorable on this node meanwhile. The retry pass
 * reads the store, so checkpoints left unpushed by an agent restart go too.
 */
export class CheckpointPusher {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: CheckpointPusherDeps) {}

  /** Queues a push of one checkpoint; resolves true once it is in the registry. */
  push(id: string): Promise<boolean> {
    const run = this.chain.then(() => this.pushNow(id));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Every restorable checkpoint of this node without an artifact, pushed; how many made it. */
  async pushPending(): Promise<number> {
    const { records, nodeId } = this.deps;
    const pending = (await records.listByNode(nodeId)).filter((r) => r.artifact === undefined && isRestorable(r));
    let pushed = 0;
    for (const record of pending) if (await this.push(record.id)) pushed++;
    return pushed;
  }

  /** Starts the retry timer (and one pass now). */
  start(): void {
    const pass = (): void => {
      if (this.stopped) return;
      void this.pushPending()
        .catch((error: unknown) => this.deps.logger.warn({ err: messageOf(error) }, 'checkpoint push pass failed'))
        .then(() => this.deps.sweep?.run())
        .catch((error: unknown) => this.deps.logger.warn({ err: messageOf(error) }, 'checkpoint registry sweep failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(pass, this.deps.retryMs);
        });
    };
    pass();
  }

  /** Stops retrying and waits for a push under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.chain;
  }

  private async pushNow(id: string): Promise<boolean> {
    const { records, store, artifacts, logger } = this.deps;
    const record = await records.get(id);
    if (!record || record.artifact !== undefined || !isRestorable(record)) return record?.artifact !== undefined;
    const stored = await store.get(record.tenant, record.id).catch(() => undefined);
    if (!stored) return false;
    const started = Date.now();
    try {
      const { artifact, bytes } = await artifacts.push(record, stored);
      if (!(await records.setArtifact(id, artifact, bytes))) {
        // Deleted while it was pushed: the artifact goes too (else the sweep deletes it).
        await records.queueArtifactDelete(record.tenant, artifact);
        await artifacts.delete(record.tenant, artifact).catch(() => undefined);
        return false;
      }
      logger.info({ checkpointId: id, artifact, bytes, ms: Date.now() - started }, 'checkpoint pushed to the registry');
      return true;
    } catch (error) {
      const reason = `push to the registry failed: ${messageOf(error)}`;
      logger.warn({ checkpointId: id, err: reason }, 'checkpoint stays on this node only; the push is retried');
      await records.notePushFailure(id, reason).catch(() => undefined);
      return false;
    }
  }
}
