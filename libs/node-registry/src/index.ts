export * from './messages';
export * from './ports';
export { NODE_REGISTRY_PROTO, PROTO_LOADER_OPTIONS, UndecodableMessage, nodeRegistryService } from './proto';
export { NodeRegistryServer, toRegisteredNode, type NodeRegistryServerOptions } from './registry-server';
export { unexpectedReason } from './report-stream';
export { NodeRegistryClient, type NodeRegistryClientOptions } from './node-registry-client';
export {
  changes,
  INVENTORY_PARTS,
  snapshot,
  type AgentInventory,
  type InventoryPart,
  type InventoryParts,
  type SentState,
} from './inventory-diff';
export { backoffDelay, type ReconnectBackoff } from './reconnect-backoff';
export { checkCaller, registryChannelCredentials, registryServerCredentials, type CallerRefusal } from './registry-tls';
