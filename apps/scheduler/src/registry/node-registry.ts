import type { Redis } from 'ioredis';
import { NodeRegistryServer } from '@warmpod/node-registry';
import type { Logger } from '@warmpod/observability';
import { NodeSessions, PodRepository } from '@warmpod/store';
import type { SchedulerConfig } from '../config';

/**
 * Serves the node registry: agents register and report over gRPC, their
 * reports land in Redis through NodeSessions (each change published on
 * `nodes:changed`), and reconciliation reads pod records to find containers
 * a node should no longer run.
 */
export async function startNodeRegistry(
  config: Pick<SchedulerConfig, 'prefix' | 'grpcHost' | 'grpcPort' | 'heartbeatMs'>,
  redis: Redis,
  logger: Logger,
): Promise<NodeRegistryServer> {
  const server = new NodeRegistryServer({
    store: new NodeSessions(redis, config.prefix),
    pods: new PodRepository(redis, config.prefix),
    logger: logger.child({ component: 'node-registry' }),
    heartbeatIntervalMs: config.heartbeatMs,
  });
  await server.listen(config.grpcHost, config.grpcPort);
  return server;
}
