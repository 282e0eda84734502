import type { NewCheckpoint } from '../checkpoint-repository';

/** A pending checkpoint of acme's pod-1 on node-a, created now; `over` sets the rest. Test code only. */
export function newCheckpoint(id: string, over: Partial<NewCheckpoint> = {}): NewCheckpoint {
  return {
    id,
    key: `ck1-${'a'.repeat(64)}`,
    specKey: `cs1-${'c'.repeat(64)}`,
    runtime: `rt1-${'d'.repeat(64)}`,
    tenant: 'acme',
    node: 'node-a',
    pod: 'pod-1',
    digest: `sha256:${'d'.repeat(64)}`,
    createdAt: new Date().toISOString(),
    ...over,
  };
}
