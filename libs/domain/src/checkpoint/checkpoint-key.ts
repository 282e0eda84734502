import { createHash } from 'node:crypto';
import type { PodSpec, Resources } from '../pod-spec';

/** What a node's CRIU images depend on besides the pod: a restore needs all of it to match. */
export interface RuntimeFingerprint {
  arch: string;
  /** A set: order and repeats do not matter. */
  cpuFlags: readonly string[];
  kernel: string;
  criuVersion: string;
  /** How CRIU stops tasks on the node ("breakpoints" or "no-breakpoints"), as the node measured it. */
  criuMode: string;
  runcVersion: string;
  /**
   * How CRIU locks the pod's network ("nftables" or "iptables"), as the node
   * measured it: a dump records it and a restore must use it. Absent means
   * iptables, CRIU's default and what every checkpoint before this field used.
   */
  criuNetworkLock?: string;
}

/** The spec fields that shape the process; everything else (labels, selector, policy) does not change what is saved. */
export type ProcessShapingSpec = Pick<PodSpec, 'command' | 'args' | 'env' | 'ports'> & { resources: Resources };

export interface CheckpointKeyInput {
  tenant: string;
  /** The pinned manifest digest (`sha256:<64 hex>`), never a tag. */
  digest: string;
  spec: ProcessShapingSpec;
  runtime: RuntimeFingerprint;
}

/** Bumped whenever the hashed shape changes, so old keys can never match new ones. */
const KEY_VERSION = 1;
export const CHECKPOINT_KEY = /^ck1-[0-9a-f]{64}$/;
export const CHECKPOINT_SPEC_KEY = /^cs1-[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * JSON with object keys sorted at every level, so equal values give equal
 * text whatever order their keys were built in. Arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: numbers must be finite');
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
      throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The compatibility key of a checkpoint: tenant + pinned digest + the
 * process-shaping spec + the node's runtime fingerprint, hashed with sha256.
 * A new digest, another tenant, a changed env value or another CRIU version
 * gives another key; env order, port order and CPU flag order do not.
 */
export function checkpointKey(input: CheckpointKeyInput): string {
  const shape = { ...podShape(input), runtime: runtimeShape(input.runtime) };
  return `ck${KEY_VERSION}-${createHash('sha256').update(canonicalJson(shape)).digest('hex')}`;
}

/** A node's runtime fingerprint on its own: a node tells its compatible checkpoints by it. */
export function runtimeKey(runtime: RuntimeFingerprint): string {
  return `rt${KEY_VERSION}-${createHash('sha256')
    .update(canonicalJson(runtimeShape(runtime)))
    .digest('hex')}`;
}

function runtimeShape(runtime: RuntimeFingerprint) {
  return {
    arch: runtime.arch,
    cpuFlags: [...new Set(runtime.cpuFlags)].sort(),
    kernel: runtime.kernel,
    criuVersion: runtime.criuVersion,
    criuMode: runtime.criuMode,
    runcVersion: runtime.runcVersion,
    // Left out for CRIU's default, so the keys of nodes that lock with iptables stay what they were.
    criuNetworkLock: runtime.criuNetworkLock === undefined || runtime.criuNetworkLock === 'iptables' ? undefined : runtime.criuNetworkLock,
  };
}

/**
 * The key without the node's runtime: what the scheduler matches on. A node
 * reports a checkpoint under its spec key only while the checkpoint's full
 * key matches the node's current runtime, so a spec-key match is a
 * compatible checkpoint on that node.
 */
export function checkpointSpecKey(input: Omit<CheckpointKeyInput, 'runtime'>): string {
  return `cs${KEY_VERSION}-${createHash('sha256')
    .update(canonicalJson(podShape(input)))
    .digest('hex')}`;
}

function podShape(input: Omit<CheckpointKeyInput, 'runtime'>) {
  if (!DIGEST.test(input.digest)) throw new TypeError(`checkpointKey: "${input.digest}" is not a pinned sha256 digest`);
  if (input.tenant === '') throw new TypeError('checkpointKey: tenant is required');
  const { spec } = input;
  return {
    v: KEY_VERSION,
    tenant: input.tenant,
    digest: input.digest,
    spec: {
      command: [...spec.command],
      args: [...spec.args],
      env: { ...spec.env },
      ports: [...new Set(spec.ports)].sort((a, b) => a - b),
      resources: { cpu: spec.resources.cpu, memoryMiB: spec.resources.memoryMiB, gpu: spec.resources.gpu },
    },
  };
}

/**
 * The runtime key of a node from the capabilities it registered with
 * (`criuOk`, `arch`, `cpuFlags` space-separated, `kernel`, `criuVersion`,
 * `criuMode`, `runcVersion`, `criuNetworkLock` when reported); undefined
 * where CRIU does not work. The agent
 * keys its checkpoints by the same fields, so equal keys mean a checkpoint
 * of one node restores on the other.
 */
export function runtimeKeyOfCapabilities(caps: Readonly<Record<string, string | boolean>>): string | undefined {
  const text = (name: string): string | undefined => (typeof caps[name] === 'string' && caps[name] !== '' ? caps[name] : undefined);
  const [arch, kernel, criuVersion, criuMode, runcVersion] = ['arch', 'kernel', 'criuVersion', 'criuMode', 'runcVersion'].map(text);
  if (caps['criuOk'] !== true || !arch || !kernel || !criuVersion || !criuMode || !runcVersion) return undefined;
  const cpuFlags = (text('cpuFlags') ?? '').split(' ').filter(Boolean);
  const criuNetworkLock = text('criuNetworkLock');
  return runtimeKey({ arch, cpuFlags, kernel, criuVersion, criuMode, runcVersion, ...(criuNetworkLock ? { criuNetworkLock } : {}) });
}
