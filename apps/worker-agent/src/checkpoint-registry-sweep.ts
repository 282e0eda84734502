import type { CheckpointRecord } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import type { CheckpointRepository, NodeRepository } from '@warmpod/store';
import type { CheckpointArtifacts } from './checkpoint-artifacts';

export interface CheckpointRegistrySweepDeps {
  records: Pick<
    CheckpointRepository,
    'nodesWithCheckpoints' | 'listByNode' | 'markDeleted' | 'queueArtifactDelete' | 'artifactDeletes' | 'artifactDeleted'
  >;
  nodes: Pick<NodeRepository, 'heartbeats'>;
  artifacts: Pick<CheckpointArtifacts, 'delete'>;
  /**
   * A node lost (or no longer registered) this long is gone: nobody applies
   * its retention any more, so its checkpoints are deleted here, artifacts
   * included. Long enough for a node to come back from a restart.
   */
  nodeGoneAfterMs: number;
  logger: Logger;
}

export interface SweepOutcome {
  /** Checkpoints of gone nodes marked deleted. */
  orphaned: number;
  /** Artifacts the registry deleted (or no longer had). */
  deleted: number;
  /** Deletes that failed (registry down): still noted, tried on the next pass. */
  failed: number;
}

/**
 * Keeps the registry free of checkpoint artifacts nobody can restore: a
 * checkpoint whose node is gone is deleted (its node's retention will never
 * run again), and every artifact noted for deletion (by a delete, retention,
 * a push that lost a race with a delete, or this sweep) is deleted from the
 * registry, again on every pass until the registry confirms it. Any agent
 * may run it; every step is safe to run twice or on two agents at once.
 * Deleting a manifest frees its blobs only at the registry's garbage
 * collection (README, Deploy to Kubernetes: checkpoint artifacts).
 */
export class CheckpointRegistrySweep {
  constructor(private readonly deps: CheckpointRegistrySweepDeps) {}

  async run(now = Date.now()): Promise<SweepOutcome> {
    const orphaned = await this.deleteCheckpointsOfGoneNodes(now);
    const { deleted, failed } = await this.deleteNotedArtifacts();
    if (orphaned + deleted + failed > 0) this.deps.logger.info({ orphaned, deleted, failed }, 'checkpoint registry sweep');
    return { orphaned, deleted, failed };
  }

  /** Notes an artifact for deletion and tries it now; a failure is left to the next pass. */
  async deleteArtifact(record: Pick<CheckpointRecord, 'id' | 'tenant' | 'artifact'>): Promise<void> {
    if (!record.artifact) return;
    const { records, artifacts, logger } = this.deps;
    await records.queueArtifactDelete(record.tenant, record.artifact);
    try {
      await artifacts.delete(record.tenant, record.artifact);
      await records.artifactDeleted(record.tenant, record.artifact);
    } catch (error) {
      logger.warn({ checkpointId: record.id, err: messageOf(error) }, 'checkpoint artifact not deleted yet; the sweep tries again');
    }
  }

  private async deleteCheckpointsOfGoneNodes(now: number): Promise<number> {
    const { records, nodes, nodeGoneAfterMs } = this.deps;
    const registered = new Map((await nodes.heartbeats()).map((n) => [n.id, n]));
    let orphaned = 0;
    for (const nodeId of await records.nodesWithCheckpoints()) {
      const node = registered.get(nodeId);
      if (node && node.lostAt === undefined) continue;
      const lostAt = node?.lostAt === undefined ? 0 : Date.parse(node.lostAt);
      for (const record of await records.listByNode(nodeId)) {
        // Deleted ones had their artifact noted by whoever deleted them (before the record changed).
        if (record.state === 'deleted') continue;
        // The later of: the node lost, the checkpoint's last change (a node that never said it was lost).
        const since = Math.max(lostAt, Date.parse(record.updatedAt ?? record.createdAt) || 0);
        if (now - since < nodeGoneAfterMs) continue;
        if (record.artifact) await records.queueArtifactDelete(record.tenant, record.artifact);
        const moved = await records.markDeleted(record.id, `its node ${nodeId} is gone`);
        if (moved.applied) orphaned++;
      }
    }
    return orphaned;
  }

  private async deleteNotedArtifacts(): Promise<{ deleted: number; failed: number }> {
    const { records, artifacts, logger } = this.deps;
    let deleted = 0;
    let failed = 0;
    for (const { tenant, artifact } of await records.artifactDeletes()) {
      try {
        await artifacts.delete(tenant, artifact);
        await records.artifactDeleted(tenant, artifact);
        deleted++;
      } catch (error) {
        failed++;
        logger.warn({ artifact, err: messageOf(error) }, 'checkpoint artifact delete failed; tried again on the next pass');
      }
    }
    return { deleted, failed };
  }
}
