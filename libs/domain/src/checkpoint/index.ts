export * from './checkpoint-spec';
export * from './checkpoint-enablement';
export * from './checkpoint-key';
export * from './checkpoint-state';
export * from './checkpoint-retention';
