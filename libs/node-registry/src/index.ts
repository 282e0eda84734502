export * from './messages';
export * from './ports';
export { NODE_REGISTRY_PROTO, PROTO_LOADER_OPTIONS, UndecodableMessage, nodeRegistryService } from './proto';
export { NodeRegistryServer, toRegisteredNode, type NodeRegistryServerOptions } from './registry-server';
export { unexpectedReason } from './report-stream';
export {
  NodeRegistryClient,
  backoffDelay,
  changes,
  snapshot,
  type AgentInventory,
  type NodeRegistryClientOptions,
  type SentState,
} from './registry-client';
