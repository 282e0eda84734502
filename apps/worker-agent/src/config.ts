import { join } from 'node:path';
import { z } from 'zod';
import { isValidNodeId, NODE_ID_RULE } from '@warmpod/domain';
import { baseConfig, baseConfigSchema, clusterTlsConfig, clusterTlsSchema, loadConfig } from '@warmpod/observability';

const labels = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of raw.split(',').filter(Boolean)) {
      const [k, v] = pair.split('=');
      if (!k || v === undefined) ctx.addIssue({ code: 'custom', message: `label "${pair}" is not key=value` });
      else out[k.trim()] = v.trim();
    }
    return out;
  });

const schema = baseConfigSchema.extend({
  // This node's certificate (CN node:<NODE_ID>): its identity to the scheduler's registry and its agent API's server certificate.
  ...clusterTlsSchema.shape,
  NODE_ID: z.string().refine(isValidNodeId, `NODE_ID must be ${NODE_ID_RULE}`),
  NODE_DATA_DIR: z.string().min(1),
  NODE_LABELS: labels,
  NODE_CPU: z.coerce.number().positive().default(2),
  NODE_MEMORY_MIB: z.coerce.number().int().positive().default(4096),
  NODE_GPU: z.coerce.number().int().min(0).default(0),
  NODE_GPU_MODEL: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$/, 'a GPU model name')
    .default('generic'),
  NODE_BRIDGE: z.string().regex(/^[a-z0-9-]{1,15}$/, 'bridge names are at most 15 characters'),
  NODE_SUBNET: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'NODE_SUBNET must be CIDR like 10.88.1.0/24'),
  NODE_CGROUP_PARENT: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a single cgroup directory name')
    .optional(),
  AGENT_HOST: z.string().default('127.0.0.1'),
  AGENT_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  EXPOSE_HOST: z.string().default('127.0.0.1'),
  /** Exposed ports come from this range ("from-to") instead of any free port (a node behind pre-forwarded ports; the checkpoint e2e watches them). */
  EXPOSE_PORT_RANGE: z
    .string()
    .regex(/^\d{1,5}-\d{1,5}$/, 'EXPOSE_PORT_RANGE must be from-to, e.g. 30000-30015')
    .transform((r) => ({ from: Number(r.split('-')[0]), to: Number(r.split('-')[1]) }))
    .refine((r) => r.from >= 1 && r.from <= r.to && r.to <= 65535, 'EXPOSE_PORT_RANGE must be 1 <= from <= to <= 65535')
    .optional(),
  /** The host others reach this node's listeners at (agent URL, endpoints) when it is not the bind host (e.g. behind forwards). */
  ADVERTISE_HOST: z.string().min(1).optional(),
  /** The scheduler's node registry (gRPC), `grpc://host:port`; it also sets the heartbeat interval. */
  SCHEDULER_GRPC_URL: z.string().regex(/^(grpc:\/\/)?[^\s/]+:\d{1,5}$/, 'SCHEDULER_GRPC_URL must be grpc://host:port'),
  STOP_GRACE_MS: z.coerce.number().int().min(0).default(5_000),
  AGENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** Local nodes stop their pods when the agent exits; cluster nodes leave them running. */
  STOP_PODS_ON_EXIT: z.enum(['true', 'false']).default('true'),
  WARMPOD_INSECURE_REGISTRIES: z.string().default(''),
  REGISTRY_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Disk the image cache may use; prepulls evict unused, unpinned images to stay within it (default 1 TiB). */
  NODE_IMAGE_BUDGET_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(2 ** 40),
  /** Blobs one pull downloads at the same time (its share of the node's bandwidth). */
  NODE_FETCH_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  /** Ask the cluster's other nodes for a blob before the registry (over the agents' mutual TLS). */
  NODE_PEER_BLOBS: z.enum(['true', 'false']).default('true'),
  /** A peer that sends no bytes for this long is left for the next peer or the registry. */
  NODE_PEER_STALL_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** A peer sending slower than this over a stall window is left too. */
  NODE_PEER_MIN_BYTES_PER_SEC: z.coerce
    .number()
    .int()
    .min(0)
    .default(256 * 1024),
  /** Peers asked for one blob before the registry. */
  NODE_PEER_MAX_TRIES: z.coerce.number().int().min(1).max(16).default(2),
  /** Blobs this node uploads to peers at once; a peer asking beyond it gets 503 and asks another source. */
  NODE_PEER_SERVE_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /** Checkpoint retention on this node: newest N per key, max age, disk budget; quarantine after k failed restores. */
  CHECKPOINT_KEEP_PER_KEY: z.coerce.number().int().min(1).default(2),
  CHECKPOINT_MAX_AGE_HOURS: z.coerce
    .number()
    .positive()
    .default(7 * 24),
  CHECKPOINT_DISK_BUDGET_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(20 * 2 ** 30),
  CHECKPOINT_QUARANTINE_AFTER: z.coerce.number().int().min(1).default(3),
  /** `host:port` of the registry checkpoints travel through (pushed after they are taken, fetched by nodes of the same runtime); unset: they stay on their node. */
  CHECKPOINT_REGISTRY: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'CHECKPOINT_REGISTRY must be host[:port]')
    .optional(),
  /** How often a checkpoint whose push failed (registry down) is pushed again; the registry sweep runs after each pass. */
  CHECKPOINT_PUSH_RETRY_MS: z.coerce.number().int().min(100).default(30_000),
  /** A node lost or unregistered this long is gone: any agent deletes its checkpoints and their registry artifacts. */
  CHECKPOINT_NODE_GONE_HOURS: z.coerce.number().positive().default(24),
  /** The criu this node checkpoints with (runc's `--criu`, the capability check); the local cluster's is a private CRIU >= 4.2. */
  WARMPOD_CRIU_PATH: z
    .string()
    .regex(/^[^\s]+$/, 'WARMPOD_CRIU_PATH must be a path or a command name without spaces')
    .default('criu'),
  /** Deadline of each probe dump and restore at start: where hardware breakpoints do not fire, a dump hangs until then. */
  CRIU_PROBE_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(10_000),
  /** Where the measured CRIU mode is kept for this boot, kernel and criu (default `<data dir>/criu-capability.json`). */
  CRIU_CAPABILITY_CACHE: z.string().min(1).optional(),
  // Set by the kubelet in every pod: the agent then reads and watches its Node.
  KUBERNETES_SERVICE_HOST: z.string().optional(),
});

export type AgentConfig = ReturnType<typeof agentConfig>;

export function agentConfig(env: Record<string, string | undefined>) {
  const c = loadConfig(schema, env, 'worker-agent');
  return {
    ...baseConfig(c),
    nodeId: c.NODE_ID,
    dataDir: c.NODE_DATA_DIR,
    inKubernetes: Boolean(c.KUBERNETES_SERVICE_HOST),
    // Every node carries its own id as a label, so a pod (e.g. a warm-pool pod) can be sent to one node.
    labels: { ...c.NODE_LABELS, 'warmpod.io/node': c.NODE_ID },
    capacity: { cpu: c.NODE_CPU, memoryMiB: c.NODE_MEMORY_MIB, gpu: c.NODE_GPU },
    bridge: c.NODE_BRIDGE,
    subnet: c.NODE_SUBNET,
    cgroupParent: c.NODE_CGROUP_PARENT ?? `warmpod-${c.NODE_ID}`,
    agentHost: c.AGENT_HOST,
    agentPort: c.AGENT_PORT,
    exposeHost: c.EXPOSE_HOST,
    exposePortRange: c.EXPOSE_PORT_RANGE,
    advertiseHost: c.ADVERTISE_HOST,
    gpuModel: c.NODE_GPU_MODEL,
    schedulerGrpcUrl: c.SCHEDULER_GRPC_URL,
    tls: clusterTlsConfig(c),
    stopGraceMs: c.STOP_GRACE_MS,
    concurrency: c.AGENT_CONCURRENCY,
    stopPodsOnExit: c.STOP_PODS_ON_EXIT === 'true',
    insecureRegistries: c.WARMPOD_INSECURE_REGISTRIES.split(',').filter(Boolean),
    registryTimeoutMs: c.REGISTRY_TIMEOUT_MS,
    imageBudgetBytes: c.NODE_IMAGE_BUDGET_BYTES,
    fetchConcurrency: c.NODE_FETCH_CONCURRENCY,
    peerServeConcurrency: c.NODE_PEER_SERVE_CONCURRENCY,
    peerBlobs:
      c.NODE_PEER_BLOBS === 'true'
        ? { stallMs: c.NODE_PEER_STALL_MS, minBytesPerSecond: c.NODE_PEER_MIN_BYTES_PER_SEC, maxPeers: c.NODE_PEER_MAX_TRIES }
        : undefined,
    checkpointRetention: {
      keepPerKey: c.CHECKPOINT_KEEP_PER_KEY,
      maxAgeMs: c.CHECKPOINT_MAX_AGE_HOURS * 3_600_000,
      diskBudgetBytes: c.CHECKPOINT_DISK_BUDGET_BYTES,
      quarantineAfter: c.CHECKPOINT_QUARANTINE_AFTER,
    },
    checkpointRegistry: c.CHECKPOINT_REGISTRY,
    checkpointPushRetryMs: c.CHECKPOINT_PUSH_RETRY_MS,
    checkpointNodeGoneAfterMs: c.CHECKPOINT_NODE_GONE_HOURS * 3_600_000,
    criu: {
      path: c.WARMPOD_CRIU_PATH,
      probeTimeoutMs: c.CRIU_PROBE_TIMEOUT_MS,
      cacheFile: c.CRIU_CAPABILITY_CACHE ?? join(c.NODE_DATA_DIR, 'criu-capability.json'),
    },
  };
}
