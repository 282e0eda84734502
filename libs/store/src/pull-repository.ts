import type { Redis } from 'ioredis';
import { Keys } from './keys';
import { CLAIM_PULL, FINISH_PULL, PULL_PROGRESS } from './pull-lua';

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

const STATES: readonly string[] = ['queued', 'pulling', 'ready', 'failed'];

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
    return (await this.redis.eval(
      CLAIM_PULL,
      2,
      this.keys.pull(node, digest),
      this.keys.pullsInflight(),
      node,
      pinned,
      String(budget.cluster),
      String(budget.perNode),
      new Date().toISOString(),
      this.keys.pullsChanged(),
      `${node} ${digest}`,
    )) as 'claimed' | 'exists' | 'busy';
  }

  async progress(node: string, digest: string, p: PullProgress): Promise<void> {
    await this.redis.eval(
      PULL_PROGRESS,
      1,
      this.keys.pull(node, digest),
      String(p.bytesDone),
      String(p.bytesTotal),
      String(p.layersDone),
      String(p.layersTotal),
      String(p.attempt),
      new Date().toISOString(),
    );
  }

  /** Ends a pull; gives its budget slot back (once). */
  async finish(node: string, digest: string, outcome: { state: 'ready' } | { state: 'failed'; reason: string }): Promise<void> {
    await this.redis.eval(
      FINISH_PULL,
      2,
      this.keys.pull(node, digest),
      this.keys.pullsInflight(),
      node,
      outcome.state,
      outcome.state === 'failed' ? outcome.reason : '',
      new Date().toISOString(),
      this.keys.pullsChanged(),
      `${node} ${digest}`,
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
    const replies = (await tx.exec()) ?? [];
    return nodes.flatMap((node, i) => {
      const status = parse(node, digest, (replies[i]?.[1] ?? {}) as Record<string, string>);
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
  if (!raw['state'] || !STATES.includes(raw['state'])) return undefined;
  return {
    node,
    digest,
    pinned: raw['pinned'] ?? '',
    state: raw['state'] as PullState,
    bytesDone: Number(raw['bytesDone'] ?? 0),
    bytesTotal: Number(raw['bytesTotal'] ?? 0),
    layersDone: Number(raw['layersDone'] ?? 0),
    layersTotal: Number(raw['layersTotal'] ?? 0),
    attempts: Number(raw['attempts'] ?? 0),
    ...(raw['reason'] ? { reason: raw['reason'] } : {}),
    updatedAt: raw['updatedAt'] ?? '',
  };
}
