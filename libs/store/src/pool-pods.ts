import type { PodRecord } from '@warmpod/domain';
import type { PodDefinition } from './pod-repository';
import type { PoolRecord } from './pool-record';

/** Every pod a pool starts carries this label with the pool's name. */
export const POOL_LABEL = 'warmpod.io/pool';

/** A pod definition that also names the pool it was started for (stored with the immutable spec). */
export type PoolPodDefinition = PodDefinition & Pick<PodRecord, 'pool'>;

/**
 * The pod a pool starts: its template at the pool's current pinned digest.
 * Warm pods and the fallback of a claim that found none free are made here
 * alike; `extraSelector` narrows placement (e.g. to one node).
 */
export function poolPodDefinition(
  pool: Pick<PoolRecord, 'tenant' | 'name' | 'image' | 'template' | 'nodeSelector'>,
  podId: string,
  extraSelector: Record<string, string> = {},
  now = new Date(),
): PoolPodDefinition {
  return {
    id: podId,
    tenant: pool.tenant,
    createdAt: now.toISOString(),
    labels: { [POOL_LABEL]: pool.name },
    image: { requested: pool.image.requested, pinned: pool.image.pinned, digest: pool.image.digest },
    spec: {
      command: [...pool.template.command],
      args: [...pool.template.args],
      env: { ...pool.template.env },
      ports: [...pool.template.ports],
      resources: { ...pool.template.resources },
      nodeSelector: { ...pool.nodeSelector, ...extraSelector },
      restartPolicy: 'Never',
      ...(pool.template.readiness ? { readiness: pool.template.readiness } : {}),
    },
    pool: pool.name,
  };
}
