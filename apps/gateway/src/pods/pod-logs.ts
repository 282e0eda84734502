import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { describeIssues } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { NodeRepository } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { ApiError } from '../http/api-error';
import { CONFIG, LOGGER } from '../providers';
import type { Caller } from '../auth/tokens';
import { TenantPods } from './tenant-pods';

const tailSchema = z.strictObject({ tail: z.coerce.number().int().min(1).max(10_000).default(200) });

/** Logs live on the node that runs the pod; the gateway asks that node's agent. */
@Injectable()
export class PodLogs {
  constructor(
    private readonly tenantPods: TenantPods,
    private readonly nodes: NodeRepository,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The last `tail` lines as text; empty while the pod is not on a node yet. */
  async tail(caller: Caller, id: string, query: unknown): Promise<string> {
    const parsed = tailSchema.safeParse(query ?? {});
    if (!parsed.success) throw ApiError.invalidRequest('the query is not valid', describeIssues(parsed.error, 'query'));
    const pod = await this.tenantPods.read(caller, id);
    if (!pod.node) return '';
    const node = await this.nodes.get(pod.node);
    if (!node) throw new ApiError(503, 'node_unavailable', `node ${pod.node} is not registered`);

    const url = `${node.agentUrl.replace(/\/+$/, '')}/pods/${encodeURIComponent(id)}/logs?tail=${parsed.data.tail}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.config.agentTimeoutMs) });
    } catch (error) {
      this.logger.warn({ podId: id, node: pod.node, err: error }, 'node agent did not answer for logs');
      throw new ApiError(503, 'node_unavailable', `the agent of node ${pod.node} did not answer`);
    }
    // The agent has no logs for a pod it has not started or already cleaned up.
    if (res.status === 404) {
      await res.body?.cancel();
      return '';
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ApiError(503, 'node_unavailable', `the agent of node ${pod.node} answered HTTP ${res.status}`);
    }
    return res.text();
  }
}
