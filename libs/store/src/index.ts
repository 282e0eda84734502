export * from './connection';
export * from './keys';
export * from './pod-repository';
export * from './node-repository';
