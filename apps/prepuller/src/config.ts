import { z } from 'zod';
import { baseConfig, baseConfigSchema, loadConfig, readyWindowSchema, type BaseConfig } from '@warmpod/observability';

const int = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const PINNED = /^[^@\s]+\/[^@\s]+@sha256:[a-f0-9]{64}$/;

const schema = baseConfigSchema
  .extend({
    /** Same rule as the scheduler's: a node silent for longer is not Ready. */
    ...readyWindowSchema.shape,
    /** Where `/metrics`, `/healthz` and `/readyz` are served; port 0 picks a free one. */
    PREPULLER_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    PREPULLER_HTTP_PORT: int(7073, 0, 65_535),
    /** Pulls in flight across the cluster. */
    PREPULL_CLUSTER_BUDGET: int(4, 1, 10_000),
    /** Pulls in flight on one node. */
    PREPULL_PER_NODE: int(2, 1, 1_000),
    /** Pull starts per second per registry host (token bucket, per replica). */
    PREPULL_REGISTRY_RATE: z.coerce.number().positive().max(10_000).default(10),
    /** Pulls of a digest no node holds yet (these go to the registry); the rest wait for a holder. */
    PREPULL_SEED_NODES: int(1, 1, 1_000),
    /** Pulls in flight per node holding the digest (they take its blobs from the holders); 0: no spreading, all pulls at once. */
    PREPULL_PEER_FANOUT: int(3, 0, 1_000),
    /** A node holding part of an image and lacking at most this many bytes of it (a rebuilt top layer) pulls at once, not after a peer copy; 0: never. */
    PREPULL_DIRECT_MAX_BYTES: int(1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    /** A failed pull is not dispatched again before this, unless its pin changes. */
    PREPULL_RETRY_AFTER_MS: int(60_000, 100, 86_400_000),
    /** Safety pass interval (change messages drive everything else). */
    PREPULL_RESYNC_MS: int(30_000, 1_000, 3_600_000),
    /** Changes within this window share one pass. */
    PREPULL_DEBOUNCE_MS: int(50, 0, 5_000),
    /** A scheduler hint not served within this is dropped. */
    PREPULL_HINT_TTL_MS: int(3_600_000, 1_000, 7 * 86_400_000),
    /** Also warm the kubelet's image cache through DaemonSets (needs a cluster). */
    PREPULL_KUBERNETES: z.enum(['true', 'false']).default('false'),
    PREPULL_K8S_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
      .default('warmpod-prepull'),
    /** The pause-like main container, pinned by digest (rule 1 holds here too). */
    PREPULL_K8S_PAUSE_IMAGE: z.string().regex(PINNED, 'a pinned reference: registry/repo@sha256:<64 hex>').optional(),
    /** JSON array: the no-op the init container runs inside the pinned image. */
    PREPULL_K8S_NOOP_COMMAND: z.string().default('["true"]'),
  })
  .superRefine((c, ctx) => {
    if (c.PREPULL_PER_NODE > c.PREPULL_CLUSTER_BUDGET) {
      ctx.addIssue({ code: 'custom', path: ['PREPULL_PER_NODE'], message: 'must not exceed PREPULL_CLUSTER_BUDGET' });
    }
    if (c.PREPULL_KUBERNETES === 'true' && !c.PREPULL_K8S_PAUSE_IMAGE) {
      ctx.addIssue({ code: 'custom', path: ['PREPULL_K8S_PAUSE_IMAGE'], message: 'required when PREPULL_KUBERNETES=true' });
    }
    if (noopCommand(c.PREPULL_K8S_NOOP_COMMAND) === undefined) {
      ctx.addIssue({ code: 'custom', path: ['PREPULL_K8S_NOOP_COMMAND'], message: 'a JSON array of at least one string' });
    }
  });

function noopCommand(raw: string): string[] | undefined {
  try {
    const parsed = z.array(z.string().min(1)).min(1).safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export interface PrepullerConfig extends BaseConfig {
  readyWindowMs: number;
  httpHost: string;
  httpPort: number;
  budget: { cluster: number; perNode: number };
  registryRatePerSecond: number;
  retryAfterMs: number;
  resyncMs: number;
  debounceMs: number;
  hintTtlMs: number;
  /** How first copies spread through the nodes; absent: all at once. */
  spread?: { seeds: number; fanout: number; directBytes: number };
  /** Absent when the Kubernetes driver is off. */
  kubernetes?: { namespace: string; pauseImage: string; noopCommand: string[] };
}

export function prepullerConfig(env: Record<string, string | undefined>): PrepullerConfig {
  const c = loadConfig(schema, env, 'prepuller');
  return {
    ...baseConfig(c),
    readyWindowMs: c.NODE_READY_WINDOW_MS,
    httpHost: c.PREPULLER_HTTP_HOST,
    httpPort: c.PREPULLER_HTTP_PORT,
    budget: { cluster: c.PREPULL_CLUSTER_BUDGET, perNode: c.PREPULL_PER_NODE },
    registryRatePerSecond: c.PREPULL_REGISTRY_RATE,
    retryAfterMs: c.PREPULL_RETRY_AFTER_MS,
    resyncMs: c.PREPULL_RESYNC_MS,
    debounceMs: c.PREPULL_DEBOUNCE_MS,
    hintTtlMs: c.PREPULL_HINT_TTL_MS,
    ...(c.PREPULL_PEER_FANOUT > 0
      ? { spread: { seeds: c.PREPULL_SEED_NODES, fanout: c.PREPULL_PEER_FANOUT, directBytes: c.PREPULL_DIRECT_MAX_BYTES } }
      : {}),
    ...(c.PREPULL_KUBERNETES === 'true'
      ? {
          kubernetes: {
            namespace: c.PREPULL_K8S_NAMESPACE,
            pauseImage: c.PREPULL_K8S_PAUSE_IMAGE!,
            noopCommand: noopCommand(c.PREPULL_K8S_NOOP_COMMAND)!,
          },
        }
      : {}),
  };
}
