export * from './request-context';
export * from './logger';
export * from './config';
export * from './errors';
export * from './within';
export * from './metrics';
export * from './connection-errors';
export * from './tls';
