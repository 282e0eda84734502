import { join } from 'node:path';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { messageOf } from '@warmpod/observability';

/** Found from the package root (dist/.. holds proto/), whatever the working directory. */
export const NODE_REGISTRY_PROTO = join(__dirname, '..', 'proto', 'node_registry.proto');

export const PROTO_LOADER_OPTIONS: Options = { keepCase: false, longs: Number, defaults: true, oneofs: true };

const SERVICE = 'warmpod.noderegistry.v1.NodeRegistry';

/**
 * Bytes that did not decode as the expected message. The deserializers of
 * `nodeRegistryService()` return this instead of throwing, so a malformed
 * message reaches the handler and is refused with INVALID_ARGUMENT rather
 * than failing inside the transport.
 */
export class UndecodableMessage {
  constructor(readonly reason: string) {}
}

function tolerant(deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (error) {
      return new UndecodableMessage(messageOf(error));
    }
  };
}

let service: ServiceDefinition | undefined;

/** The NodeRegistry service definition, loaded once, with tolerant deserializers on both sides. */
export function nodeRegistryService(): ServiceDefinition {
  if (service) return service;
  const loaded: unknown = loadSync(NODE_REGISTRY_PROTO, PROTO_LOADER_OPTIONS)[SERVICE];
  if (!loaded || typeof loaded !== 'object' || !('Register' in loaded) || !('Connect' in loaded) || !('Deregister' in loaded)) {
    throw new Error(`${NODE_REGISTRY_PROTO} does not define ${SERVICE}`);
  }
  const methods = loaded as Record<string, MethodDefinition<unknown, unknown>>;
  service = Object.fromEntries(
    Object.entries(methods).map(([name, m]) => [
      name,
      { ...m, requestDeserialize: tolerant(m.requestDeserialize), responseDeserialize: tolerant(m.responseDeserialize) },
    ]),
  );
  return service;
}

export function registerMethod(): MethodDefinition<unknown, unknown> {
  return nodeRegistryService()['Register'] as MethodDefinition<unknown, unknown>;
}

export function deregisterMethod(): MethodDefinition<unknown, unknown> {
  return nodeRegistryService()['Deregister'] as MethodDefinition<unknown, unknown>;
}

export function connectMethod(): MethodDefinition<unknown, unknown> {
  return nodeRegistryService()['Connect'] as MethodDefinition<unknown, unknown>;
}
