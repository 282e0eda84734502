export * from './intake-contract';
export * from './queue-client';
export * from './json-schema';
export * from './examples/three-pod-flow';
export * from './sse';
