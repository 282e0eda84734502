import { podStartSegments, type PodRecord, type StartMode } from '@warmpod/domain';
import { JobMetrics } from '@warmpod/jobs';
import { PULL_BYTES_BUCKETS, secondsSince, ServiceMetrics, WAIT_SECONDS_BUCKETS } from '@warmpod/observability';

/** Why an image was pulled: a pod's start needed it, or it was pulled ahead of use (prepull, pin). */
export type PullTrigger = 'pod' | 'prepull';
export type Outcome = 'success' | 'failure';

/**
 * The node agent's own metrics, on its HTTP port at `/metrics`. Labels are
 * bounded: start mode, segment, trigger, outcome; never a pod, image or checkpoint id.
 */
export class AgentMetrics {
  readonly metrics: ServiceMetrics;
  /** This node's queue: its depth, and its failed job runs. */
  readonly jobs;
  private readonly podStart;
  private readonly pullSeconds;
  private readonly pullBytes;
  private readonly checkpointSeconds;
  private readonly checkpoints;
  private readonly restoreSeconds;
  private readonly restores;

  /** `metrics: false` (WARMPOD_METRICS=off): the calls below count into nothing served. */
  constructor(opts: { metrics?: boolean } = {}) {
    this.metrics = new ServiceMetrics('worker-agent', { enabled: opts.metrics ?? true });
    this.jobs = new JobMetrics(this.metrics);
    this.podStart = this.metrics.histogram(
      'warmpod_pod_start_duration_seconds',
      'Pod start duration by start mode and segment (placement, dispatch, pull, restore, start; total: Pending to Running), from the pod timeline, observed when the pod reaches Running',
      ['mode', 'segment'],
      WAIT_SECONDS_BUCKETS,
    );
    this.pullSeconds = this.metrics.histogram(
      'warmpod_image_pull_duration_seconds',
      'Image pull duration (fetch, verify, unpack) on this node',
      ['trigger', 'outcome'],
      WAIT_SECONDS_BUCKETS,
    );
    this.pullBytes = this.metrics.histogram(
      'warmpod_image_pull_bytes',
      'Compressed blob bytes (image config and layers, as the registry stores them) fetched per successful image pull, from peer nodes and the registry alike (warmpod_peer_blob_fetched_bytes_total: the part from peers); blobs already on the node are not fetched again, unpacked sizes are not counted',
      ['trigger'],
      PULL_BYTES_BUCKETS,
    );
    this.checkpointSeconds = this.metrics.histogram(
      'warmpod_checkpoint_duration_seconds',
      'Time to take a checkpoint (pause, archive the writable layer, CRIU dump, store), by outcome',
      ['outcome'],
      WAIT_SECONDS_BUCKETS,
    );
    this.checkpoints = this.metrics.counter('warmpod_checkpoints_total', 'Checkpoints attempted, by outcome', ['outcome']);
    this.restoreSeconds = this.metrics.histogram(
      'warmpod_restore_duration_seconds',
      'Time from the start of a restore to a restored pod confirmed ready, or to the failure',
      ['outcome'],
      WAIT_SECONDS_BUCKETS,
    );
    this.restores = this.metrics.counter(
      'warmpod_restores_total',
      'Restores attempted, by outcome (a failure falls back to a normal start)',
      ['outcome'],
    );
  }

  /** A pod reached Running: each segment of its start, and its total, under its start mode. */
  podRunning(pod: Pick<PodRecord, 'timeline'>, mode: StartMode): void {
    for (const { segment, seconds } of podStartSegments(pod)) this.podStart.observe({ mode, segment }, seconds);
  }

  pulled(trigger: PullTrigger, startedMs: number, outcome: Outcome, bytesFetched = 0): void {
    this.pullSeconds.observe({ trigger, outcome }, secondsSince(startedMs));
    if (outcome !== 'success') return;
    this.pullBytes.observe({ trigger }, bytesFetched);
  }

  checkpointed(startedMs: number, outcome: Outcome): void {
    this.checkpointSeconds.observe({ outcome }, secondsSince(startedMs));
    this.checkpoints.inc({ outcome });
  }

  restored(startedMs: number, outcome: Outcome): void {
    this.restoreSeconds.observe({ outcome }, secondsSince(startedMs));
    this.restores.inc({ outcome });
  }
}
