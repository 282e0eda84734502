export * from './agent-bundle';
export * from './assets';
export { GUEST_SHARE_DIR } from './boot-files';
export * from './errors';
export * from './forwards';
export { GUEST_PATH, type ExecOptions, type ExecResult } from './guest-exec';
export * from './vm-node';
export * from './vm-options';
