import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { claimPull, finishPull, pullProgress } from './scripts/prepull-scripts';
import { pipelineReplies, stringHash } from './pipeline-replies';

export type PullState = 'queued' | 'pulling' | 'ready' | 'failed';

export interface PullStatus {
  node: string;
  digest: string;
  pinned: string;
  state: PullState;
  bytesDone: number;
  bytesTotal: number;
  layersDone: number;
  layersTotal: number;
  attempts: number;
  reason?: string;
  updatedAt: string;
}

export interface PullProgress {
  bytesDone: number;
  bytesTotal: number;
  layersDone: number;
  layersTotal: number;
  attempt: number;
}

export interface PullBudget {
  /** Pulls in flight across the cluster. */
  cluster: number;
  /** Pulls in flight on one node. */
  perNode: number;
}

const STATES: readonly PullState[] = ['queued', 'pulling', 'ready', 'failed'];
const isPullState = (s: string | undefined): s is PullState => STATES.some((known) => known === s);

/**
 * Per-node pull state of a digest (queued, pulling with bytes and layers,
 * ready, failed with a reason), and the budget of pulls in flight.
 */
export class PullRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Channel: a pull was claimed or ended (message: `node digest`). */
  get changesChannel(): string {
    return this.keys.pullsChanged();
  }

  /** Takes a budget slot and marks the pull queued, in one step. */
  async claim(node: string, digest: string, pinned: string, budget: PullBudget): Promise<'claimed' | 'exists' | 'busy'> {
    return claimPull.run(
      this.redis,
      { status: this.keys.pull(node, digest), inflight: this.keys.pullsInflight() },
      {
        node,
        pinned,
        clusterBudget: budget.cluster,
        nodeBudget: budget.perNode,
        nowIso: new Date().toISOString(),
        channel: this.keys.pullsChanged(),
        message: `${node} ${digest}`,
      },
    );
  }

  async progress(node: string, digest: string, p: PullProgress): Promise<void> {
    await pullProgress.run(
      this.redis,
      { status: this.keys.pull(node, digest) },
      {
        bytesDone: p.bytesDone,
        bytesTotal: p.bytesTotal,
        layersDone: p.layersDone,
        layersTotal: p.layersTotal,
        attempt: p.attempt,
        nowIso: new Date().toISOString(),
      },
    );
    // Every blob is on the node (unpacking may go on): its peers can take them from it now, so the prepuller hears of it.
    if (p.bytesTotal > 0 && p.bytesDone >= p.bytesTotal) await this.redis.publish(this.keys.pullsChanged(), `${node} ${digest}`);
  }

  /** Ends a pull; gives its budget slot back (once). */
  async finish(node: string, digest: string, outcome: { state: 'ready' } | { state: 'failed'; reason: string }): Promise<void> {
    await finishPull.run(
      this.redis,
      { status: this.keys.pull(node, digest), inflight: this.keys.pullsInflight() },
      {
        node,
        state: outcome.state,
        reason: outcome.state === 'failed' ? outcome.reason : '',
        nowIso: new Date().toISOString(),
        channel: this.keys.pullsChanged(),
        message: `${node} ${digest}`,
      },
    );
  }

  /** Drops the record of a digest on a node (after eviction, or to allow a fresh try after a failure). */
  async forget(node: string, digest: string): Promise<void> {
    await this.redis.del(this.keys.pull(node, digest));
  }

  async get(node: string, digest: string): Promise<PullStatus | undefined> {
    return parse(node, digest, await this.redis.hgetall(this.keys.pull(node, digest)));
  }

  /** Pull states of one digest on the given nodes (missing ones are left out). */
  async forDigest(digest: string, nodes: readonly string[]): Promise<PullStatus[]> {
    const tx = this.redis.pipeline();
    for (const node of nodes) tx.hgetall(this.keys.pull(node, digest));
    const replies = pipelineReplies(await tx.exec());
    return nodes.flatMap((node, i) => {
      const status = parse(node, digest, stringHash.parse(replies[i]));
      return status ? [status] : [];
    });
  }

  async inflight(): Promise<{ total: number; perNode: Record<string, number> }> {
    const raw = await this.redis.hgetall(this.keys.pullsInflight());
    const perNode: Record<string, number> = {};
    for (const [k, v] of Object.entries(raw)) if (k !== 'total' && Number(v) > 0) perNode[k] = Number(v);
    return { total: Number(raw['total'] ?? 0), perNode };
  }
}

function parse(node: string, digest: string, raw: Record<string, string>): PullStatus | undefined {
  const state = raw['state'];
  if (!isPullState(state)) return undefined;
  return {
    node,
    digest,
    pinned: raw['pinned'] ?? '',
    state,
    bytesDone: Number(raw['bytesDone'] ?? 0),
    bytesTotal: Number(raw['bytesTotal'] ?? 0),
    layersDone: Number(raw['layersDone'] ?? 0),
    layersTotal: Number(raw['layersTotal'] ?? 0),
    attempts: Number(raw['attempts'] ?? 0),
    ...(raw['reason'] ? { reason: raw['reason'] } : {}),
    updatedAt: raw['updatedAt'] ?? '',
  };
}
