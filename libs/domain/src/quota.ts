import { z } from 'zod';
import type { PodSpec } from './pod-spec';

/**
 * What a tenant may hold at once. Pods count while not ended (Pending to
 * Running); pins while active (a superseded pin's successor carries the
 * charge); pool pods are the sizes of the tenant's active pools; checkpoints
 * count while not deleted and not failed.
 */
export const QUOTA_NAMES = [
  'pods',
  'cpuMilli',
  'memoryMiB',
  'gpu',
  'pins',
  'pinBytes',
  'poolPods',
  'checkpoints',
  'checkpointBytes',
] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];
export type QuotaValues = Readonly<Record<QuotaName, number>>;

const GIB = 1024 ** 3;

/** Limits of a tenant the operator did not name: room to try everything, not to take a cluster. */
export const DEFAULT_QUOTA: QuotaValues = {
  pods: 100,
  cpuMilli: 32_000,
  memoryMiB: 65_536,
  gpu: 8,
  pins: 20,
  pinBytes: 20 * GIB,
  poolPods: 20,
  checkpoints: 50,
  checkpointBytes: 20 * GIB,
};

const limit = z.number().int('a whole number').min(0, 'at least 0').max(Number.MAX_SAFE_INTEGER);
/** Some limits; the rest come from the level above (the file's defaults, then DEFAULT_QUOTA). */
export const partialQuotaSchema = z.strictObject({
  pods: limit.optional(),
  cpuMilli: limit.optional(),
  memoryMiB: limit.optional(),
  gpu: limit.optional(),
  pins: limit.optional(),
  pinBytes: limit.optional(),
  poolPods: limit.optional(),
  checkpoints: limit.optional(),
  checkpointBytes: limit.optional(),
});

/** One of a tenant's limits that a request would pass: refused, and nothing stored. */
export interface QuotaRefusal {
  quota: QuotaName;
  limit: number;
  /** Held before the request. */
  used: number;
  /** What the request would add. */
  requested: number;
}

/** What a pod is charged, in the units nodes reserve (millicores, MiB, GPUs). */
export interface PodCharge {
  cpuMilli: number;
  memoryMiB: number;
  gpu: number;
  /** A pod that may come back after its node is lost stays charged for a while when Lost. */
  restarts: boolean;
}

export function podCharge(spec: Pick<PodSpec, 'resources' | 'restartPolicy'>): PodCharge {
  return {
    cpuMilli: Math.round(spec.resources.cpu * 1000),
    memoryMiB: spec.resources.memoryMiB,
    gpu: spec.resources.gpu,
    restarts: spec.restartPolicy !== 'Never',
  };
}

export function isQuotaName(name: string): name is QuotaName {
  return (QUOTA_NAMES as readonly string[]).includes(name);
}

/** One value per quota, in QUOTA_NAMES order. */
export function perQuota<T>(value: (name: QuotaName) => T): Record<QuotaName, T> {
  return {
    pods: value('pods'),
    cpuMilli: value('cpuMilli'),
    memoryMiB: value('memoryMiB'),
    gpu: value('gpu'),
    pins: value('pins'),
    pinBytes: value('pinBytes'),
    poolPods: value('poolPods'),
    checkpoints: value('checkpoints'),
    checkpointBytes: value('checkpointBytes'),
  };
}
