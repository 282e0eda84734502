import type { ReadinessProbe, RuncRuntime } from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { NodeRepository, NodeReservations, PodRepository } from '@warmpod/store';
import { CheckpointOnDemand, type CheckpointOnDemandDeps } from './checkpoint-on-demand';
import { NodeDrainer, type NodeDrainerDeps } from './node-drainer';
import { PodAdopter, type PodAdopterDeps } from './pod-adopter';
import { PodExitWatcher } from './pod-exit-watcher';
import { PodLocks } from './pod-locks';
import { PodReadiness } from './pod-readiness';
import { PodStarter, type PodStarterDeps, type StartCheckpoints } from './pod-starter';
import { PodStopper } from './pod-stopper';
import { PodTransitions } from './pod-transitions';

export interface PodLifecycleDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get' | 'transition' | 'isStopRequested' | 'annotate'>;
  nodes: Pick<NodeRepository, 'addCachedDigest'>;
  reservations: Pick<NodeReservations, 'release' | 'list'>;
  cache: PodStarterDeps['cache'];
  runc: Pick<RuncRuntime, 'waitExit' | 'stop' | 'list'> & PodAdopterDeps['runc'];
  sandboxes: PodStarterDeps['sandboxes'] & PodAdopterDeps['sandboxes'];
  /** Probes every pod's readiness condition (and a checkpointing pod's, which is the same). */
  probe: Pick<ReadinessProbe, 'waitUntilReady'>;
  /** Undefined: this node cannot checkpoint. */
  checkpoints: (StartCheckpoints & NonNullable<CheckpointOnDemandDeps['checkpoints']>) | undefined;
  stopGraceMs: number;
  /** A pod moved off this node when it drains goes back to the scheduler. */
  reschedule: NodeDrainerDeps['reschedule'];
  /** Something the node reports changed (image cached, container started or gone, checkpoint taken). */
  reportChange: () => void;
  logger: Logger;
  metrics?: PodStarterDeps['metrics'];
}

/** A pod's life on this node, in pieces that share one lock per pod. */
export interface PodLifecycle {
  starter: PodStarter;
  stopper: PodStopper;
  exits: PodExitWatcher;
  checkpointOnDemand: CheckpointOnDemand;
  /** At agent start: what runs on the node, reconciled with the store. */
  adopter: PodAdopter;
  /** When the node leaves the cluster: its pods moved elsewhere or stopped. */
  drainer: NodeDrainer;
}

export function podLifecycle(deps: PodLifecycleDeps): PodLifecycle {
  const {
    nodeId,
    pods,
    nodes,
    reservations,
    cache,
    runc,
    sandboxes,
    probe,
    checkpoints,
    stopGraceMs,
    reschedule,
    reportChange,
    logger,
    metrics,
  } = deps;
  // Start, stop, exit and on-demand checkpoints of one pod run one at a time.
  const locks = new PodLocks();
  const transitions = new PodTransitions({ nodeId, pods, reservations, reportChange });
  const exits = new PodExitWatcher({ nodeId, pods, runc, sandboxes, locks, transitions, logger });
  const starter = new PodStarter({
    nodeId,
    pods,
    nodes,
    cache,
    runc,
    sandboxes,
    readiness: new PodReadiness({ probe, runc }),
    checkpoints,
    locks,
    transitions,
    exits,
    reportChange,
    logger,
    ...(metrics ? { metrics } : {}),
  });
  const stopper = new PodStopper({ nodeId, pods, runc, sandboxes, locks, transitions, exits, starts: starter, stopGraceMs, logger });
  const checkpointOnDemand = new CheckpointOnDemand({ nodeId, pods, checkpoints, locks, reportChange });
  const adopter = new PodAdopter({ nodeId, pods, reservations, runc, sandboxes, locks, transitions, exits, logger });
  const drainer = new NodeDrainer({
    nodeId,
    pods,
    reservations,
    runc,
    sandboxes,
    locks,
    transitions,
    exits,
    starts: starter,
    reschedule,
    stopGraceMs,
    logger,
  });
  return { starter, stopper, exits, checkpointOnDemand, adopter, drainer };
}
