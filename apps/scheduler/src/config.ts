import { z } from 'zod';
import {
  baseConfig,
  baseConfigSchema,
  clusterTlsConfig,
  clusterTlsSchema,
  loadConfig,
  readyWindowSchema,
  type BaseConfig,
  type ClusterTlsConfig,
} from '@warmpod/observability';

const schema = baseConfigSchema.extend({
  ...readyWindowSchema.shape,
  // The node registry serves TLS with this certificate (CN service:scheduler) and trusts agents of this CA bundle.
  ...clusterTlsSchema.shape,
  SCHEDULER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64),
  /** Where the node registry (gRPC) listens; port 0 picks a free one. */
  SCHEDULER_GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  SCHEDULER_GRPC_PORT: z.coerce.number().int().min(0).max(65535).default(7070),
  /** Where `/metrics`, `/healthz` and `/readyz` are served; port 0 picks a free one. */
  SCHEDULER_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  SCHEDULER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(7072),
  /** How often agents are asked to heartbeat when nothing changed. */
  HEARTBEAT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  /** Tenants whose pods are never checkpointed (operator policy), comma-separated. */
  CHECKPOINT_OFF_TENANTS: z.string().default(''),
});

export interface SchedulerConfig extends BaseConfig {
  readyWindowMs: number;
  concurrency: number;
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  heartbeatMs: number;
  checkpointOffTenants: string[];
  tls: ClusterTlsConfig;
}

export function schedulerConfig(env: Record<string, string | undefined>): SchedulerConfig {
  const c = loadConfig(schema, env, 'scheduler');
  return {
    ...baseConfig(c),
    readyWindowMs: c.NODE_READY_WINDOW_MS,
    concurrency: c.SCHEDULER_CONCURRENCY,
    grpcHost: c.SCHEDULER_GRPC_HOST,
    grpcPort: c.SCHEDULER_GRPC_PORT,
    httpHost: c.SCHEDULER_HTTP_HOST,
    httpPort: c.SCHEDULER_HTTP_PORT,
    heartbeatMs: c.HEARTBEAT_MS,
    tls: clusterTlsConfig(c),
    checkpointOffTenants: c.CHECKPOINT_OFF_TENANTS.split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  };
}
