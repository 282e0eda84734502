import { Inject, Injectable } from '@nestjs/common';
import { CheckpointRepository, NodeRepository, PodRepository, type NodeRecord } from '@warmpod/store';
import type { Caller } from '../auth/tokens';
import type { GatewayConfig } from '../config';
import { CONFIG } from '../providers';
import { toNodeResponse, type NodeResponse, type NodeVisibility } from './node-response';

/**
 * Nodes as a caller may see them. Nodes are shared, their contents are not:
 * a tenant sees its own running pods and checkpoints on each node and only
 * counts for the rest; an operator sees everything. Filtered here, in the
 * response mapping: the node record itself does not say whose a pod is.
 */
@Injectable()
export class NodeViews {
  constructor(
    private readonly nodes: NodeRepository,
    private readonly pods: PodRepository,
    private readonly checkpoints: CheckpointRepository,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  async list(caller: Caller): Promise<NodeResponse[]> {
    return this.view(await this.nodes.list(), caller);
  }

  async get(id: string, caller: Caller): Promise<NodeResponse | undefined> {
    const node = await this.nodes.get(id);
    return node ? (await this.view([node], caller))[0] : undefined;
  }

  private async view(nodes: NodeRecord[], caller: Caller): Promise<NodeResponse[]> {
    const now = Date.now();
    const visible = caller.role === 'operator' ? undefined : await this.visibility(nodes, caller.tenant);
    return nodes.map((n) => toNodeResponse(n, this.config.nodeReadyWindowMs, now, visible));
  }

  /** Looks up whose each listed pod and checkpoint is; one that cannot be found is not the caller's. */
  private async visibility(nodes: readonly NodeRecord[], tenant: string): Promise<NodeVisibility> {
    const podIds = [...new Set(nodes.flatMap((n) => n.runningPods ?? []))];
    const checkpointIds = [...new Set(nodes.flatMap((n) => (n.checkpoints ?? []).map((c) => c.id)))];
    const [pods, checkpoints] = await Promise.all([
      Promise.all(podIds.map((id) => this.pods.get(id))),
      Promise.all(checkpointIds.map((id) => this.checkpoints.get(id, tenant))),
    ]);
    const ownPods = new Set(podIds.filter((_, i) => pods[i]?.tenant === tenant));
    const ownCheckpoints = new Set(checkpointIds.filter((_, i) => checkpoints[i] !== undefined));
    return { pod: (id) => ownPods.has(id), checkpoint: (id) => ownCheckpoints.has(id) };
  }
}
