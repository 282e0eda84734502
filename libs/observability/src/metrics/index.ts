export * from './registry';
export * from './service-http';
export * from './exposition';
