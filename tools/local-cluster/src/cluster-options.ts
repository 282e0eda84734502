import { join } from 'node:path';

export interface ClusterNodeSpec {
  id: string;
  cpu: number;
  memoryMiB: number;
  gpu: number;
  labels: Record<string, string>;
  bridge: string;
  subnet: string;
  /** Extra environment for this node's agent only (e.g. NODE_IMAGE_BUDGET_BYTES). */
  env?: Record<string, string>;
}

export interface LocalClusterOptions {
  /** Repository root: the services run from their built dist/main.js. */
  root: string;
  workDir: string;
  redisUrl: string;
  prefix: string;
  /** 0 picks a free port. */
  gatewayPort: number;
  registryPort: number;
  /** Tenant tokens: token -> tenant. */
  tokens: Record<string, string>;
  /** An operator token (cluster operations such as cordon), acting as tenant "ops" for its own resources. */
  operatorToken?: string;
  nodes: ClusterNodeSpec[];
  logLevel: string;
  /** Extra environment for every service (e.g. a shorter heartbeat in tests). */
  env?: Record<string, string>;
  /**
   * Scheduler replicas (default 1): `scheduler`, `scheduler-2`, ... each with
   * its own gRPC and HTTP ports; agents register with the first.
   */
  schedulerReplicas?: number;
  /**
   * Every this many ms the registry is stopped for its garbage collection
   * (`LocalRegistry.garbageCollect`): the blobs of deleted checkpoint
   * artifacts go. Unset or 0: never.
   */
  registryGcIntervalMs?: number;
  /** The criu host nodes checkpoint with; default the bootstrap's private CRIU >= 4.2 (`criuPrefixPaths`). */
  criuPath?: string;
}

/**
 * Where the bootstrap (scripts/criu-prefix.sh) installs a CRIU for the local
 * nodes, and where the agents of this machine using it share their measured
 * CRIU mode (same boot, kernel and criu for every local node using it).
 * `criu` (the default) is CRIU >= 4.2, what every node uses; `criu-4.1` is
 * the tests' second runtime (trixie's CRIU 4.1.1, `ensure_test_criu`), which
 * a node gets through its `env` (WARMPOD_CRIU_PATH, CRIU_CAPABILITY_CACHE).
 */
export function criuPrefixPaths(root: string, prefix: 'criu' | 'criu-4.1' = 'criu'): { criu: string; capabilityCache: string } {
  return { criu: join(root, '.warmpod', prefix, 'criu'), capabilityCache: join(root, '.warmpod', prefix, 'capability.json') };
}

/** The gateway's tokens file (WARMPOD_TOKENS): `{"<token>": {"tenant": "<name>", "role": "tenant" | "operator"}}`. */
export function gatewayTokens(o: Pick<LocalClusterOptions, 'tokens' | 'operatorToken'>): string {
  const grants: Record<string, { tenant: string; role: 'tenant' | 'operator' }> = {};
  for (const [token, tenant] of Object.entries(o.tokens)) grants[token] = { tenant, role: 'tenant' };
  if (o.operatorToken) grants[o.operatorToken] = { tenant: 'ops', role: 'operator' };
  return JSON.stringify(grants);
}

/** Two local nodes, one of them with (accounted) GPUs, each with its own bridge and subnet. */
export function defaultNodes(bridgeTag = 'wp', subnetBase = 88): ClusterNodeSpec[] {
  return [
    {
      id: 'node-1',
      cpu: 2,
      memoryMiB: 4096,
      gpu: 0,
      labels: { zone: 'a' },
      bridge: `${bridgeTag}-node-1`,
      subnet: `10.${subnetBase}.1.0/24`,
    },
    {
      id: 'node-2',
      cpu: 2,
      memoryMiB: 4096,
      gpu: 2,
      labels: { zone: 'b', gpu: 'sim' },
      bridge: `${bridgeTag}-node-2`,
      subnet: `10.${subnetBase}.2.0/24`,
    },
  ];
}
