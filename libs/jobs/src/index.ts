export * from './catalog';
export * from './errors';
export * from './retry-policy';
export * from './job-bus';
export * from './job-runner';
export * from './prefix';
export * from './job-metrics';
