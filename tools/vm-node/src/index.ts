export * from './assets';
export * from './vm-node';
