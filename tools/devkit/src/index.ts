export * from './local-registry';
export * from './image-builder';
export * from './sample-images';
export * from './registry-proxy';
export { ToolError } from './run-tool';
export { dropKeys, keysUnder } from './redis-keys';
export { DEFAULT_REDIS_URL, redisOptions, redisUrl, type RedisAddress } from './test-redis';
export * from './slow-init-pod';
export * from './restore-breakdown';
