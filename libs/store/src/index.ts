export * from './connection';
export * from './keys';
export * from './pod-repository';
export * from './node-repository';
export * from './node-liveness';
export * from './image-repository';
export * from './pull-repository';
export * from './pin-repository';
