import { z } from 'zod';

/** The parts of a Kubernetes Node the agent uses; the rest passes through unread. */
export const kubeNodeSchema = z
  .object({
    metadata: z
      .object({ name: z.string(), resourceVersion: z.string().optional(), labels: z.record(z.string(), z.string()).nullish() })
      .passthrough(),
    spec: z
      .object({
        unschedulable: z.boolean().nullish(),
        taints: z.array(z.object({ key: z.string(), value: z.string().nullish(), effect: z.string() }).passthrough()).nullish(),
      })
      .passthrough()
      .nullish(),
    status: z
      .object({ allocatable: z.record(z.string(), z.string()).nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough();
export type KubeNode = z.infer<typeof kubeNodeSchema>;

export interface NodeView {
  labels: Record<string, string>;
  /** Unschedulable, or tainted NoSchedule/NoExecute: warmpod places nothing new there. */
  cordoned: boolean;
  cordonReason?: string;
  allocatable: { cpu?: number; memoryMiB?: number; gpu?: number };
}

const GPU_RESOURCES = ['nvidia.com/gpu', 'amd.com/gpu'];
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, m: 1e-3 };

/** A Kubernetes quantity ("3500m", "16Gi", "1e3") as a number, or undefined when it is not one. */
export function parseQuantity(q: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|m)?$/.exec(q.trim());
  if (!m) return undefined;
  const unit = m[2] ?? '';
  return Number(m[1]) * (BINARY[unit] ?? DECIMAL[unit] ?? 1);
}

/** What warmpod takes from a Node: its labels, whether it is cordoned (and why), its allocatable resources. */
export function viewOf(node: KubeNode): NodeView {
  const taint = (node.spec?.taints ?? []).find((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  const cordonReason = node.spec?.unschedulable
    ? 'the Node is unschedulable'
    : taint
      ? `the Node has the ${taint.effect} taint ${taint.key}`
      : undefined;
  const alloc = node.status?.allocatable ?? {};
  const cpu = alloc['cpu'] === undefined ? undefined : parseQuantity(alloc['cpu']);
  const memory = alloc['memory'] === undefined ? undefined : parseQuantity(alloc['memory']);
  const gpus = GPU_RESOURCES.map((r) => (alloc[r] === undefined ? undefined : parseQuantity(alloc[r]))).filter((n) => n !== undefined);
  return {
    labels: { ...(node.metadata.labels ?? {}) },
    cordoned: cordonReason !== undefined,
    ...(cordonReason ? { cordonReason } : {}),
    allocatable: {
      ...(cpu !== undefined ? { cpu } : {}),
      ...(memory !== undefined ? { memoryMiB: Math.floor(memory / 2 ** 20) } : {}),
      ...(gpus.length > 0 ? { gpu: gpus.reduce((a, b) => a + b, 0) } : {}),
    },
  };
}

export interface Capacity {
  cpu: number;
  memoryMiB: number;
  gpu: number;
}

/** The configured capacity, never more than the Node can give. */
export function cappedCapacity(configured: Capacity, view: NodeView): Capacity {
  const cap = (mine: number, theirs: number | undefined) => (theirs === undefined ? mine : Math.min(mine, theirs));
  return {
    cpu: cap(configured.cpu, view.allocatable.cpu),
    memoryMiB: cap(configured.memoryMiB, view.allocatable.memoryMiB),
    gpu: cap(configured.gpu, view.allocatable.gpu),
  };
}

/**
 * Node labels merged under the agent's own (the agent's win), at most `max`
 * in all: registration refuses more, so the Node's are taken in key order
 * until the limit. Returns the labels and the keys left out.
 */
export function mergedLabels(
  own: Record<string, string>,
  node: Record<string, string>,
  max: number,
): { labels: Record<string, string>; dropped: string[] } {
  const labels = { ...own };
  const dropped: string[] = [];
  for (const key of Object.keys(node).sort()) {
    if (key in labels) continue;
    if (Object.keys(labels).length >= max) dropped.push(key);
    else labels[key] = node[key]!;
  }
  return { labels, dropped };
}
