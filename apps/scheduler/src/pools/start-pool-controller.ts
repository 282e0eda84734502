import type { Redis } from 'ioredis';
import type { JobBus } from '@warmpod/jobs';
import type { Logger } from '@warmpod/observability';
import { NodeRepository, PinRepository, PodRepository, PoolRepository, type EventLogOptions } from '@warmpod/store';
import type { PlacementView } from '../placement-view';
import { DEFAULT_POOL_CONTROLLER_OPTIONS, PoolController, type PoolControllerOptions } from './pool-controller';
import { PoolPins } from './pool-pins';
import { PoolPodLauncher } from './pool-pod-launcher';
import { PoolPodRetirer } from './pool-pod-retirer';
import { PoolReconciler, type PoolTimings } from './pool-reconciler';
import { WarmNodes } from './warm-nodes';

export const DEFAULT_POOL_TIMINGS: PoolTimings = {
  graceMs: 30_000,
  stableMs: 10_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  resendScheduleMs: 10_000,
};

/**
 * Builds this replica's pool controller on the scheduler's connection, bus
 * and placement view, and starts it; `store` is the key prefix and whether
 * its pods and pools append events.
 */
export async function startPoolController(
  redis: Redis,
  store: { prefix: string } & EventLogOptions,
  view: PlacementView,
  bus: JobBus,
  logger: Logger,
  timings: PoolTimings = DEFAULT_POOL_TIMINGS,
  options: PoolControllerOptions = DEFAULT_POOL_CONTROLLER_OPTIONS,
): Promise<PoolController> {
  const log = logger.child({ component: 'pools' });
  const { prefix } = store;
  const pools = new PoolRepository(redis, prefix, store);
  const pods = new PodRepository(redis, prefix, store);
  const nodes = new NodeRepository(redis, prefix);
  const reconciler = new PoolReconciler(
    {
      pools,
      pods,
      pins: new PoolPins(new PinRepository(redis, prefix, store), pools, log),
      launcher: new PoolPodLauncher(pools, pods, bus, timings.graceMs, log),
      retirer: new PoolPodRetirer(pools, pods, bus, log),
      warmNodes: new WarmNodes(view, nodes),
    },
    timings,
    log,
  );
  const controller = new PoolController(redis, prefix, nodes, pools, reconciler, view, log, options);
  await controller.start();
  return controller;
}
