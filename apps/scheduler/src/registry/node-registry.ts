import type { Redis } from 'ioredis';
import { NodeRegistryServer, type CallerRefusal } from '@warmpod/node-registry';
import type { ClusterTls, Logger } from '@warmpod/observability';
import { NodeSessions, PodRepository } from '@warmpod/store';
import type { SchedulerConfig } from '../config';

/**
 * Serves the node registry: agents register and report over gRPC, their
 * reports land in Redis through NodeSessions (each change published on
 * `nodes:changed`), and reconciliation reads pod records to find containers
 * a node should no longer run. Agents must present a certificate of the
 * cluster CA naming their node (`trust.tls`); refusals go to `onRefused`.
 */
export async function startNodeRegistry(
  config: Pick<SchedulerConfig, 'prefix' | 'grpcHost' | 'grpcPort' | 'heartbeatMs'>,
  redis: Redis,
  logger: Logger,
  trust: { tls: ClusterTls; onRefused?: (reason: CallerRefusal) => void },
): Promise<NodeRegistryServer> {
  const server = new NodeRegistryServer({
    store: new NodeSessions(redis, config.prefix),
    pods: new PodRepository(redis, config.prefix),
    logger: logger.child({ component: 'node-registry' }),
    heartbeatIntervalMs: config.heartbeatMs,
    tls: trust.tls,
    onRefused: trust.onRefused,
  });
  await server.listen(config.grpcHost, config.grpcPort);
  return server;
}
