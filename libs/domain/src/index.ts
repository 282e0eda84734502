export * from './image-reference';
export * from './pod-phase';
export * from './pod-spec';
export * from './pod';
export * from './ids';
export * from './placement/index';
export * from './checkpoint/index';
export * from './pod-start-segments';
