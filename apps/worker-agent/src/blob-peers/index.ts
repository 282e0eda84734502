export * from './blob-server';
export * from './blob-sources';
export * from './peer-directory';
export * from './peer-metrics';
export * from './peer-transport';
