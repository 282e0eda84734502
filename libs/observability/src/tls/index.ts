export * from './cluster-identity';
export * from './cluster-tls';
