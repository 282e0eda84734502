export * from './cluster-identity';
export * from './cluster-tls';
export * from './cluster-https';
