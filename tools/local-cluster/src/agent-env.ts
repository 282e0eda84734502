import { join } from 'node:path';
import { ClusterPki } from '@warmpod/devkit';
import type { ClusterNodeSpec, LocalClusterOptions } from './cluster-options';

/** The cluster CA of a local cluster: made once under its work dir, reused by later runs. */
export function pkiDir(o: Pick<LocalClusterOptions, 'workDir'>): string {
  return join(o.workDir, 'pki');
}

/** The certificate of a node's agent (CN `node:<id>`), issued by the launcher before it starts the agent. */
export function nodeCertEnv(o: Pick<LocalClusterOptions, 'workDir'>, nodeId: string): Record<string, string> {
  return ClusterPki.env(ClusterPki.issuedPaths(pkiDir(o), `node:${nodeId}`));
}

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
    ...nodeCertEnv(o, node.id),
    ...node.env,
  };
}
