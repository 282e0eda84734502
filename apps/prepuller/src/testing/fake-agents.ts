import type { NodeRepository, PullRepository } from '@warmpod/store';
import type { PullDispatcher } from '../pull-dispatcher';

export type AgentBehaviour = (node: string, digest: string) => { outcome: 'ready' | 'failed' | 'hold'; delayMs?: number };

/**
 * Stands in for the node agents' pull-image handler: records every dispatch
 * (a second dispatch of a job still pending is a no-op, as the per-node job
 * id makes it), then ends the pull the way the handler does (pull state, and
 * for a success the node inventory), or holds it until the test ends it.
 * Counts pulls in flight, overall and per node, and their maxima.
 */
export class FakeAgents implements PullDispatcher {
  readonly dispatched: Array<{ node: string; digest: string; pinned: string; at: number }> = [];
  private readonly pending = new Set<string>();
  private readonly activeOn = new Map<string, number>();
  active = 0;
  maxActive = 0;
  maxOnOneNode = 0;
  duplicates = 0;

  constructor(
    private readonly pulls: PullRepository,
    private readonly nodes: NodeRepository,
    private readonly behaviour: AgentBehaviour = () => ({ outcome: 'hold' }),
  ) {}

  async dispatch(node: string, digest: string, pinned: string): Promise<void> {
    const key = `${node} ${digest}`;
    if (this.pending.has(key)) {
      this.duplicates++;
      return;
    }
    this.pending.add(key);
    this.dispatched.push({ node, digest, pinned, at: Date.now() });
    this.active++;
    this.activeOn.set(node, (this.activeOn.get(node) ?? 0) + 1);
    this.maxActive = Math.max(this.maxActive, this.active);
    this.maxOnOneNode = Math.max(this.maxOnOneNode, this.activeOn.get(node)!);
    const { outcome, delayMs = 0 } = this.behaviour(node, digest);
    if (outcome !== 'hold') setTimeout(() => void this.complete(node, digest, outcome), delayMs);
  }

  /** Pulls dispatched and not yet ended, as [node, digest]. */
  pendingPulls(): Array<[string, string]> {
    return [...this.pending].map((k) => k.split(' ') as [string, string]);
  }

  dispatchesOf(node: string, digest: string): number {
    return this.dispatched.filter((d) => d.node === node && d.digest === digest).length;
  }

  /** Ends a pending pull as the agent would. */
  async complete(node: string, digest: string, outcome: 'ready' | 'failed'): Promise<void> {
    const key = `${node} ${digest}`;
    if (!this.pending.delete(key)) throw new Error(`no pending pull ${key}`);
    this.active--;
    this.activeOn.set(node, this.activeOn.get(node)! - 1);
    if (outcome === 'ready') {
      await this.nodes.addCachedDigest(node, digest, 1_000);
      await this.pulls.finish(node, digest, { state: 'ready' });
    } else {
      await this.pulls.finish(node, digest, { state: 'failed', reason: 'registry answered 500' });
    }
  }
}
