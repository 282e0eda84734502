import { Inject, Injectable } from '@nestjs/common';
import { CHECKPOINT_ID, type CheckpointRecord } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { CheckpointRepository } from '@warmpod/store';
import { ReadScope } from '../auth/read-scope';
import type { Caller } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { LOGGER } from '../providers';
import { CheckpointJobs } from './checkpoint-jobs';
import { isFiltered, matches, type CheckpointFilter } from './list-query';

/** How far back a filtered listing looks; an unfiltered one reads only what it returns. */
const FILTER_SCAN = 1_000;

/**
 * One tenant's checkpoint records. Another tenant's checkpoint is "not
 * found", never "forbidden". Only records: the files stay on their node.
 */
@Injectable()
export class TenantCheckpoints {
  constructor(
    private readonly checkpoints: CheckpointRepository,
    private readonly jobs: CheckpointJobs,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly scope: ReadScope,
  ) {}

  async get(tenant: string, id: string): Promise<CheckpointRecord> {
    const checkpoint = CHECKPOINT_ID.test(id) ? await this.checkpoints.get(id, tenant) : undefined;
    if (!checkpoint) throw ApiError.notFound('checkpoint');
    return checkpoint;
  }

  /** A record the caller may read (an operator: any tenant's). */
  async read(caller: Caller, id: string): Promise<CheckpointRecord> {
    const checkpoint = CHECKPOINT_ID.test(id) ? await this.checkpoints.get(id) : undefined;
    if (!checkpoint || !this.scope.mayRead(caller, checkpoint.tenant)) throw ApiError.notFound('checkpoint');
    return checkpoint;
  }

  /** The records the caller may read, newest first: its tenant's, or for an operator every tenant's. */
  async list(caller: Caller, filter: CheckpointFilter): Promise<CheckpointRecord[]> {
    const limit = isFiltered(filter) ? FILTER_SCAN : filter.limit;
    const perTenant = await Promise.all(this.scope.tenants(caller).map((tenant) => this.checkpoints.listByTenant(tenant, { limit })));
    return perTenant
      .flat()
      .filter((c) => matches(c, filter))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, filter.limit);
  }

  /**
   * Marks the checkpoint deleted first, so no restore can pick it from then
   * on, then asks its node (and every node holding a fetched copy) to remove
   * the files and the registry artifact. Deleting it again sends the
   * removal again (a no-op on the node when the files are gone), which is
   * also how a removal that could not be queued is retried.
   */
  async delete(tenant: string, id: string, requestId: string): Promise<CheckpointRecord> {
    const checkpoint = await this.get(tenant, id);
    if (checkpoint.state !== 'deleted') {
      const outcome = await this.checkpoints.markDeleted(id, 'deleted by the user');
      if (!outcome.applied && outcome.why === 'not-found') throw ApiError.notFound('checkpoint');
      // not-allowed means another request deleted it meanwhile: the same end state.
    }
    // Its node removes the files and the registry artifact; nodes that fetched a copy remove theirs.
    const nodes = [checkpoint.node, ...(await this.checkpoints.copiesOf(id)).filter((n) => n !== checkpoint.node)];
    try {
      for (const node of nodes) await this.jobs.send(node, { name: 'delete-checkpoint', data: { checkpointId: id, requestId } });
    } catch (error) {
      this.logger.error({ checkpointId: id, nodes, err: error }, 'could not enqueue delete-checkpoint');
      throw new ApiError(
        503,
        'queue_unavailable',
        'the checkpoint is deleted and will not be restored, but removing its files could not be queued on its node; retry the DELETE',
      );
    }
    this.logger.info({ checkpointId: id, node: checkpoint.node }, 'checkpoint deleted');
    return this.get(tenant, id);
  }
}
