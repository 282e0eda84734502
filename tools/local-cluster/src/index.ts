export * from './cluster-options';
export * from './host-ports';
export * from './local-cluster';
export * from './service-process';
export * from './vm-worker-node';
export * from './supervisor';
