import { parsePinned } from '@warmpod/domain';
import { PermanentJobError, type JobData } from '@warmpod/jobs';
import { LayerError, type ImageCache } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import { RegistryError, type RegistryClient } from '@warmpod/registry';
import type { ImageLayers, ImageRepository, NodeRepository, PullProgress, PullRepository } from '@warmpod/store';
import { ImageBudgetError, type BudgetImage, type BudgetReservation, type ImageBudget } from './image-budget';
import type { AgentMetrics } from './agent-metrics';
import type { ImageLastUse } from './image-last-use';
import { ProgressThrottle } from './progress-throttle';

export interface ImagePullerDeps {
  nodeId: string;
  cache: Pick<ImageCache, 'ensure' | 'has' | 'list' | 'arch' | 'prefetch'>;
  pulls: Pick<PullRepository, 'progress' | 'finish' | 'get'>;
  nodes: Pick<NodeRepository, 'addCachedDigest'>;
  /** Layers recorded at admission; the registry is asked when they are not. */
  images: Pick<ImageRepository, 'get'>;
  registry: Pick<RegistryClient, 'describeImage'>;
  budget: Pick<ImageBudget, 'reserve'>;
  lastUse: Pick<ImageLastUse, 'touch'>;
  /** The node's inventory changed: tell the scheduler's view soon. */
  reportChange(): void;
  logger: Logger;
  /** Least time between two progress writes of one pull (default 250 ms: at most 4 a second, plus the last). */
  progressIntervalMs?: number;
  metrics?: Pick<AgentMetrics, 'pulled'>;
}

/**
 * Pulls a pinned digest onto this node ahead of any pod: by digest only
 * (the cache verifies every blob and reuses layers it has), within the
 * node's disk budget, reporting progress at a bounded rate. Safe to run
 * twice: a digest already cached is reported ready at once.
 */
export class ImagePuller {
  constructor(private readonly deps: ImagePullerDeps) {}

  async pull({ digest, pinned }: JobData<'pull-image'>, attempt: number): Promise<void> {
    const d = this.deps;
    if (await d.cache.has(digest)) {
      await this.announce(digest);
      await d.pulls.finish(d.nodeId, digest, { state: 'ready' });
      d.logger.info('image already cached; pull reported ready');
      return;
    }
    const started = Date.now();
    // The manifest is on its way while the budget makes room (it writes nothing to disk).
    d.cache.prefetch(pinned);
    const image = await this.describe(pinned, digest);
    let reservation: BudgetReservation;
    try {
      reservation = await d.budget.reserve(image);
    } catch (error) {
      if (error instanceof ImageBudgetError) throw new PermanentJobError(error.message);
      throw error;
    }
    const reporter = new ProgressThrottle<Omit<PullProgress, 'attempt'>>(
      (p) => d.pulls.progress(d.nodeId, digest, { ...p, attempt }),
      d.progressIntervalMs ?? 250,
      (error) => d.logger.warn({ err: error.message }, 'pull progress not recorded'),
    );
    const pullStarted = Date.now();
    let pulledAt = pullStarted;
    try {
      const pulled = await d.cache.ensure(pinned, (p) => reporter.push(p));
      pulledAt = Date.now();
      d.metrics?.pulled('prepull', pullStarted, 'success', pulled.bytesFetched);
    } catch (error) {
      d.metrics?.pulled('prepull', pullStarted, 'failure');
      await reporter.flush();
      throw asJobError(error);
    } finally {
      reservation.release();
    }
    d.lastUse.touch(digest);
    // The last progress write and the inventory go out together; both have landed before the pull is ready.
    await Promise.all([reporter.flush(), this.announce(digest)]);
    await d.pulls.finish(d.nodeId, digest, { state: 'ready' });
    // Where the time went: waiting for budget room, fetching and unpacking, reporting it ready.
    const phasesMs = { budget: pullStarted - started, pull: pulledAt - pullStarted, report: Date.now() - pulledAt };
    d.logger.info({ ms: Date.now() - started, phasesMs, evicted: reservation.evicted }, 'image pulled ahead of use');
  }

  /** The job failed for good: the pull state says so, with the reason and how many attempts were made. */
  async giveUp(digest: string, error: Error, attempts: number): Promise<void> {
    const d = this.deps;
    // Something else (a pod start) may have brought it in meanwhile.
    if (await d.cache.has(digest).catch(() => false)) {
      await d.pulls.finish(d.nodeId, digest, { state: 'ready' });
      return;
    }
    const current = await d.pulls.get(d.nodeId, digest);
    if (current && (current.state === 'queued' || current.state === 'pulling')) {
      const { bytesDone, bytesTotal, layersDone, layersTotal } = current;
      await d.pulls.progress(d.nodeId, digest, { bytesDone, bytesTotal, layersDone, layersTotal, attempt: attempts });
    }
    await d.pulls.finish(d.nodeId, digest, { state: 'failed', reason: error.message });
    d.logger.warn({ attempts, reason: error.message }, 'image pull failed for good');
  }

  /** Puts the image in the node's inventory, here and in the scheduler's view. */
  private async announce(digest: string): Promise<void> {
    const entry = (await this.deps.cache.list()).find((c) => c.digest === digest);
    if (entry) await this.deps.nodes.addCachedDigest(this.deps.nodeId, digest, entry.sizeBytes, entry.layers);
    this.deps.reportChange();
  }

  /** Layers and size of the digest, for the budget: recorded at admission, else asked of the registry. */
  private async describe(pinned: string, digest: string): Promise<BudgetImage> {
    const recorded: ImageLayers | undefined = await this.deps.images.get(digest);
    if (recorded) return { digest, ...recorded };
    const ref = parsePinned(pinned);
    try {
      const described = await this.deps.registry.describeImage(ref.registry, ref.repository, digest, {
        os: 'linux',
        architecture: this.deps.cache.arch,
      });
      return { digest, ...described };
    } catch (error) {
      throw asJobError(error);
    }
  }
}

/**
 * A registry that is away is worth retrying; one that says the image does
 * not exist, refuses access or serves something invalid is not, nor is a
 * layer the store refuses (bad digest or diff_id, an escaping entry): the
 * same bytes would come again. A full disk is retried.
 */
export function asJobError(error: unknown): Error {
  const registry = causeOf(error, RegistryError);
  const layer = causeOf(error, LayerError);
  const message = messageOf(error);
  if (registry && registry.kind !== 'unavailable') return new PermanentJobError(message);
  if (layer?.refused) return new PermanentJobError(message);
  return error instanceof Error ? error : new Error(message);
}

function causeOf<T extends Error>(error: unknown, kind: new (...args: never[]) => T): T | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof kind) return e;
  }
  return undefined;
}
