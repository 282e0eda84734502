export { CriuCapability, explainCriuCheckFailure, type CriuCapabilityOptions, type CriuCapabilityResult } from './criu-capability';
export { CriuCapabilityCache, type CriuCapabilityKey, type CriuWorkingSettings } from './criu-capability-cache';
export { criuErrors, criuFailure } from './criu-log';
export { CRIU_MODES, criuEnvironment, isCriuMode, NO_BREAKPOINTS_FAULT, type CriuMode } from './criu-mode';
export {
  CRIU_CONFIG_ANNOTATION,
  CRIU_NETWORK_LOCKS,
  criuRuncConfigText,
  DEFAULT_CRIU_NETWORK_LOCK,
  isCriuNetworkLock,
  writeCriuRuncConfig,
  type CriuNetworkLock,
} from './criu-network-lock';
export { probeDumpRestore, type CriuProbeOptions, type CriuProbeResult } from './criu-probe';
export {
  CriuOperationError,
  RestoreAbortedError,
  RuncCheckpointer,
  type CheckpointOptions,
  type RestoreOptions,
  type RestoredContainer,
  type RestoreSteps,
  type RuncCheckpointerOptions,
} from './runc-checkpointer';
export { WritableLayerArchive, type WritableLayerArchiveOptions } from './writable-layer-archive';
export {
  CheckpointStore,
  diskBytes,
  type CheckpointDraft,
  type CheckpointMeta,
  type CheckpointStoreOptions,
  type StoredCheckpoint,
} from './checkpoint-store';
export { CriuKdatCache, type CriuKdatCacheOptions, type KdatCacheState } from './criu-kdat-cache';
export { criuRestorePhases, type CriuRestorePhases } from './criu-phases';
