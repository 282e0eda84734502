import { randomUUID } from 'node:crypto';
import { parsePinned } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import type {
  AbandonedPulls,
  ImageLayers,
  ImageRepository,
  NodeRecord,
  NodeRepository,
  PinRecord,
  PinRepository,
  PodImageUsage,
  PrepullHint,
  PrepullHintBook,
  ProtectedDigests,
  PullBudget,
  PullRepository,
  PullStatus,
} from '@warmpod/store';
import { desiredPulls, protectedDigests, type PullLookup, type PullWant } from './desired-state';
import { planHints } from './hint-plan';
import type { PullDispatcher } from './pull-dispatcher';
import { planPulls } from './pull-plan';
import { spreadFirstCopies, type SpreadSettings } from './pull-spread';
import type { RegistryRateLimiter } from './registry-rate';
import { rotation } from './rotation';

export interface PrepullPorts {
  pins: PinRepository;
  nodes: NodeRepository;
  pulls: PullRepository;
  /** The layers recorded when a digest was pinned: how much of it a node lacks. */
  images: Pick<ImageRepository, 'get'>;
  hints: PrepullHintBook;
  protectedDigests: ProtectedDigests;
  usage: PodImageUsage;
  abandoned: AbandonedPulls;
  dispatcher: PullDispatcher;
  limiter: RegistryRateLimiter;
}

export interface PrepullSettings {
  budget: PullBudget;
  readyWindowMs: number;
  retryAfterMs: number;
  hintTtlMs: number;
  /** First copies spread as a tree through the nodes (peers serve blobs); absent: every wanted pull starts at once. */
  spread?: SpreadSettings;
}

/** What one pass did, and when the next one is due at the latest. */
export interface PassReport {
  claimed: Array<{ node: string; digest: string }>;
  droppedPins: string[];
  droppedHints: string[];
  /** Superseded pins still rotating. */
  rotating: number;
  /** Hints still waiting for a node to hold their digest. */
  hintsOpen: number;
  /** A cooldown or rate limit ends then (ms): run again at that time. */
  wakeAt?: number;
  /** The nodes as this pass read them. */
  nodes: NodeRecord[];
}

interface Snapshot {
  active: PinRecord[];
  superseded: PinRecord[];
  nodes: NodeRecord[];
  hints: PrepullHint[];
  pulls: PullLookup;
  /** Layers of the active pins' digests, where recorded (only read when spreading). */
  images: Map<string, ImageLayers>;
  inUse: Map<string, Set<string>>;
  inflight: { total: number; perNode: Record<string, number> };
}

type Candidate = Pick<PullWant, 'node' | 'digest' | 'pinned'> & { staleReady?: true };

/**
 * One reconcile pass: read pins, nodes and pull states; drop superseded pins
 * whose rotation is done; publish each node's protected digests; claim
 * budget slots for what is missing and dispatch a pull-image job for every
 * slot won. Safe to run in several replicas at once: a claim is atomic and
 * a dispatch is idempotent per (node, digest).
 */
export class PrepullReconciler {
  constructor(
    private readonly ports: PrepullPorts,
    private readonly settings: PrepullSettings,
    private readonly logger: Logger,
  ) {}

  async reconcile(now = Date.now()): Promise<PassReport> {
    const passId = `prepull-${randomUUID()}`;
    const snap = await this.snapshot();
    const { readyWindowMs, retryAfterMs, hintTtlMs } = this.settings;

    const verdicts = rotation({ ...snap, readyWindowMs, now });
    const droppedPins: string[] = [];
    for (const v of verdicts.filter((r) => r.done)) {
      if (!(await this.ports.pins.remove(v.pin))) continue;
      droppedPins.push(v.pin.id);
      this.logger.info({ pin: v.pin.id, digest: v.pin.digest, successor: v.successor?.id ?? null }, 'superseded pin rotated out');
    }
    const rotating = verdicts.filter((r) => !r.done).map((r) => ({ digest: r.pin.digest, keepOn: r.keepOn }));
    await this.ports.protectedDigests.sync(protectedDigests(snap.active, rotating, snap.nodes));

    const nodesById = new Map(snap.nodes.map((n) => [n.id, n]));
    const wants = desiredPulls(snap.active, snap.nodes, readyWindowMs, now);
    // An inventory report follows a finished pull within a heartbeat or so: the ready window is ample.
    const plan = planPulls(wants, nodesById, snap.pulls, { retryAfterMs, inventoryLagMs: readyWindowMs }, now);
    let wakeAt = plan.retryAt;

    const decisions = planHints({
      hints: snap.hints,
      nodes: snap.nodes,
      pulls: snap.pulls,
      inUse: snap.inUse,
      wantedByPins: new Set(wants.map((w) => w.digest)),
      inflight: snap.inflight.perNode,
      readyWindowMs,
      retryAfterMs,
      hintTtlMs,
      now,
    });
    const droppedHints: string[] = [];
    const hintPulls: Candidate[] = [];
    for (const d of decisions) {
      if (d.action === 'drop') {
        await this.ports.hints.remove(d.pinned);
        droppedHints.push(d.pinned);
      } else if (d.action === 'wait') {
        if (d.retryAt !== undefined) wakeAt = Math.min(wakeAt ?? d.retryAt, d.retryAt);
      } else {
        // Replicas agree on one node per hint; a lost race takes the other's choice.
        const node = d.assigned === d.node ? d.node : await this.ports.hints.assign(d.pinned, d.assigned, d.node);
        if (node === d.node) hintPulls.push({ node, digest: d.digest, pinned: d.pinned });
      }
    }

    const spread = this.settings.spread;
    const toClaim = spread ? spreadFirstCopies(plan.toClaim, nodesById, snap.pulls, spread, snap.images) : plan.toClaim;
    const claimed = await this.claimAll([...toClaim, ...hintPulls], snap.inflight, passId, (at) => {
      wakeAt = Math.min(wakeAt ?? at, at);
    });
    return {
      claimed,
      droppedPins,
      droppedHints,
      rotating: rotating.length,
      hintsOpen: snap.hints.length - droppedHints.length,
      nodes: snap.nodes,
      ...(wakeAt !== undefined ? { wakeAt } : {}),
    };
  }

  private async snapshot(): Promise<Snapshot> {
    const { pins, nodes: nodeRepo, pulls, usage, hints: hintBook } = this.ports;
    const [active, superseded, nodes, hints] = await Promise.all([
      pins.listActive(),
      pins.listSuperseded(),
      nodeRepo.list(),
      hintBook.list(),
    ]);
    const inflight = await this.releaseAbandoned(nodes);
    const ids = nodes.map((n) => n.id);
    const digests = new Set([...active.map((p) => p.digest), ...hints.flatMap((h) => digestOf(h.pinned))]);
    const lookup = new Map<string, Map<string, PullStatus>>();
    const images = new Map<string, ImageLayers>();
    const spreading = (this.settings.spread?.directBytes ?? 0) > 0;
    await Promise.all([
      ...[...digests].map(async (digest) => {
        lookup.set(digest, new Map((await pulls.forDigest(digest, ids)).map((s) => [s.node, s])));
      }),
      ...(spreading ? [...new Set(active.map((p) => p.digest))] : []).map(async (digest) => {
        const image = await this.ports.images.get(digest);
        if (image) images.set(digest, image);
      }),
    ]);
    // Pod usage matters only to rotation and to hint placement.
    const inUse = superseded.length > 0 || hints.length > 0 ? await usage.byNode(nodes) : new Map<string, Set<string>>();
    return { active, superseded, nodes, hints, pulls: lookup, images, inUse, inflight };
  }

  /** Gives back the slots of pulls on nodes that are lost or gone; returns the in-flight counters after that. */
  private async releaseAbandoned(nodes: readonly NodeRecord[]): Promise<Snapshot['inflight']> {
    const inflight = await this.ports.pulls.inflight();
    const alive = new Set(nodes.filter((n) => !n.lostAt).map((n) => n.id));
    const gone = Object.keys(inflight.perNode).filter((id) => !alive.has(id));
    if (gone.length === 0) return inflight;
    for (const id of gone) {
      const released = await this.ports.abandoned.release(id, 'node lost before the pull finished');
      if (released.length > 0) this.logger.warn({ node: id, digests: released }, 'pulls on a lost node released');
    }
    return this.ports.pulls.inflight();
  }

  private async claimAll(
    candidates: readonly Candidate[],
    inflight: Snapshot['inflight'],
    passId: string,
    wakeAt: (at: number) => void,
  ): Promise<PassReport['claimed']> {
    const { budget } = this.settings;
    const { pulls, limiter } = this.ports;
    const claimed: PassReport['claimed'] = [];
    // Claims are made one by one (they count slots); the jobs of those won go out together.
    const dispatches: Array<Promise<void>> = [];
    let total = inflight.total;
    let onNode: Record<string, number> = { ...inflight.perNode };
    for (const c of candidates) {
      if (total >= budget.cluster) break;
      if ((onNode[c.node] ?? 0) >= budget.perNode) continue;
      const host = registryOf(c.pinned);
      if (limiter.available(host) < 1) {
        wakeAt(limiter.nextTokenAt(host));
        continue;
      }
      // The image was evicted after a ready pull (the agent did not forget it): drop the record so it can be claimed.
      if (c.staleReady) await pulls.forget(c.node, c.digest);
      const outcome = await pulls.claim(c.node, c.digest, c.pinned, budget);
      if (outcome === 'busy') {
        // Another replica took slots meanwhile: correct the counters and go on.
        const fresh = await pulls.inflight();
        total = fresh.total;
        onNode = { ...fresh.perNode };
        continue;
      }
      if (outcome === 'exists') continue;
      limiter.tryTake(host);
      total++;
      onNode[c.node] = (onNode[c.node] ?? 0) + 1;
      claimed.push({ node: c.node, digest: c.digest });
      dispatches.push(this.dispatch(c, passId));
    }
    await Promise.all(dispatches);
    return claimed;
  }

  /** A dispatch that fails gives its slot back at once, as a failed pull (retried after the cooldown). */
  private async dispatch(c: Candidate, passId: string): Promise<void> {
    try {
      await this.ports.dispatcher.dispatch(c.node, c.digest, c.pinned, passId);
      this.logger.info({ node: c.node, digest: c.digest, requestId: passId }, 'pull dispatched');
    } catch (error) {
      const reason = `dispatch failed: ${messageOf(error)}`;
      this.logger.warn({ node: c.node, digest: c.digest, err: messageOf(error) }, 'pull dispatch failed');
      await this.ports.pulls.finish(c.node, c.digest, { state: 'failed', reason });
    }
  }
}

function digestOf(pinned: string): string[] {
  try {
    return [parsePinned(pinned).digest];
  } catch {
    return [];
  }
}

function registryOf(pinned: string): string {
  try {
    return parsePinned(pinned).registry;
  } catch {
    return pinned.slice(0, Math.max(0, pinned.indexOf('/')));
  }
}
