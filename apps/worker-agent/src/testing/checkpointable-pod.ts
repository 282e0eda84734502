import { newId, normaliseSpec, type PodRecord } from '@warmpod/domain';

/** A Running pod of acme on node-a whose spec asks for checkpoints (ready on TCP 80); `over` sets the rest. Test code only. */
export function checkpointablePod(over: Partial<PodRecord> = {}): PodRecord {
  const digest = `sha256:${'a'.repeat(64)}`;
  return {
    id: newId('pod'),
    tenant: 'acme',
    createdAt: new Date().toISOString(),
    labels: {},
    image: { requested: 'app:latest', pinned: `r.local/app@${digest}`, digest },
    spec: normaliseSpec({ image: 'app:latest', checkpoint: { enabled: true, condition: { type: 'tcp', port: 80 }, timeoutSeconds: 30 } }),
    phase: 'Running',
    node: 'node-a',
    timeline: {},
    endpoints: [],
    restarts: 0,
    ...over,
  };
}
