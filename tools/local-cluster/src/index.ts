export * from './cluster-options';
export * from './local-cluster';
export * from './service-process';
export * from './supervisor';
export * from './queue-door';
