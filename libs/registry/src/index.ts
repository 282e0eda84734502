export * from './errors';
export * from './media-types';
export * from './manifest';
export * from './registry-client';
export * from './platform';
export * from './checkpoint-artifact';
