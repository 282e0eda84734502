import type { Redis } from 'ioredis';
import { runtimeKey, type RuntimeFingerprint } from '@warmpod/domain';
import type { CapabilitiesMessage } from '@warmpod/node-registry';
import {
  CheckpointStore,
  DEFAULT_CRIU_NETWORK_LOCK,
  isCriuMode,
  isCriuNetworkLock,
  RuncCheckpointer,
  WritableLayerArchive,
  writeCriuRuncConfig,
} from '@warmpod/node-runtime';
import type { Logger } from '@warmpod/observability';
import type { RegistryClient } from '@warmpod/registry';
import { CheckpointRepository, NodeRepository } from '@warmpod/store';
import type { AgentMetrics } from './agent-metrics';
import { CheckpointArtifacts } from './checkpoint-artifacts';
import { CheckpointPusher } from './checkpoint-pusher';
import { CheckpointRegistrySweep } from './checkpoint-registry-sweep';
import type { AgentConfig } from './config';
import { runcOptions } from './node-sweep';
import { PodCheckpoints } from './pod-checkpoints';
import type { PodSandboxes } from './pod-sandbox';

export interface NodeCheckpointsOptions {
  config: AgentConfig;
  /** What the node measured and registered: checkpoints only where CRIU works. */
  caps: CapabilitiesMessage;
  sandboxes: PodSandboxes;
  registry: RegistryClient;
  redis: Redis;
  logger: Logger;
  metrics: AgentMetrics;
}

/** Checkpointing on this node, and the pusher that makes its checkpoints travel (when a checkpoint registry is set). */
export interface NodeCheckpoints {
  checkpoints: PodCheckpoints;
  pusher?: CheckpointPusher;
}

/** Checkpointing on this node, when CRIU works here; its key carries this runtime's fingerprint. */
export function nodeCheckpoints(o: NodeCheckpointsOptions): NodeCheckpoints | undefined {
  const { config: c, caps, logger } = o;
  if (!caps.criuOk || !isCriuMode(caps.criuMode)) return undefined;
  // The checkpointer must see the node's runc root and shim files exactly as the runtime writes them.
  const runtimeOptions = runcOptions(c, logger);
  const fingerprint = runtimeFingerprintOf(caps);
  const tools = {
    // The criu and the mode the capability check measured, for every checkpoint and restore.
    checkpointer: new RuncCheckpointer({ ...runtimeOptions, criuPath: c.criu.path, criuMode: caps.criuMode }),
    archive: new WritableLayerArchive({ logger }),
    store: new CheckpointStore({ dataDir: c.dataDir, logger }),
  };
  const records = new CheckpointRepository(o.redis, c.prefix, {
    quarantineAfter: c.checkpointRetention.quarantineAfter,
    events: c.observability.events,
  });
  let travel;
  if (c.checkpointRegistry) {
    const artifacts = new CheckpointArtifacts({
      registry: o.registry,
      host: c.checkpointRegistry,
      runtime: fingerprint,
      runtimeKey: runtimeKey(fingerprint),
      store: tools.store,
      diskBudgetBytes: c.checkpointRetention.diskBudgetBytes,
    });
    const sweep = new CheckpointRegistrySweep({
      records,
      nodes: new NodeRepository(o.redis, c.prefix),
      artifacts,
      nodeGoneAfterMs: c.checkpointNodeGoneAfterMs,
      logger,
    });
    const pusher = new CheckpointPusher({
      nodeId: c.nodeId,
      records,
      store: tools.store,
      artifacts,
      sweep,
      retryMs: c.checkpointPushRetryMs,
      logger,
    });
    travel = { artifacts, pusher, sweep };
  }
  const checkpoints = new PodCheckpoints({
    ...(travel ? { travel } : {}),
    nodeId: c.nodeId,
    runtime: fingerprint,
    records,
    tools,
    sandboxes: o.sandboxes,
    retention: c.checkpointRetention,
    logger,
    metrics: o.metrics,
  });
  return { checkpoints, ...(travel ? { pusher: travel.pusher } : {}) };
}

/** The runtime a checkpoint taken here is keyed by: what the node measured and registered. */
export function runtimeFingerprintOf(caps: CapabilitiesMessage): RuntimeFingerprint {
  const { arch, cpuFlags, kernel, criuVersion, criuMode, runcVersion, criuNetworkLock } = caps;
  return { arch, cpuFlags, kernel, criuVersion, criuMode: criuMode ?? '', runcVersion, ...(criuNetworkLock ? { criuNetworkLock } : {}) };
}

/** Writes the node's CRIU config for runc (the network lock it measured) into `dataDir`; gives its path for the pods' specs. */
export function writeNodeCriuConfig(caps: CapabilitiesMessage, dataDir: string): Promise<string> {
  return writeCriuRuncConfig(dataDir, isCriuNetworkLock(caps.criuNetworkLock) ? caps.criuNetworkLock : DEFAULT_CRIU_NETWORK_LOCK);
}
