import { join } from 'node:path';
import type { ClusterNodeSpec, LocalClusterOptions } from './cluster-options';

/** The environment a node agent of this cluster gets, on the host (a VM node rewrites the addresses). */
export function agentEnv(o: LocalClusterOptions, node: ClusterNodeSpec, schedulerGrpcUrl: string): Record<string, string> {
  return {
    WARMPOD_REDIS_URL: o.redisUrl,
    WARMPOD_PREFIX: o.prefix,
    LOG_LEVEL: o.logLevel,
    ...o.env,
    NODE_ID: node.id,
    NODE_DATA_DIR: join(o.workDir, 'nodes', node.id),
    NODE_LABELS: Object.entries(node.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    NODE_CPU: String(node.cpu),
    NODE_MEMORY_MIB: String(node.memoryMiB),
    NODE_GPU: String(node.gpu),
    NODE_BRIDGE: node.bridge,
    NODE_SUBNET: node.subnet,
    NODE_CGROUP_PARENT: `warmpod-${o.prefix.replace(/[^A-Za-z0-9]/g, '')}-${node.id}`,
    SCHEDULER_GRPC_URL: schedulerGrpcUrl,
    ...node.env,
  };
}
