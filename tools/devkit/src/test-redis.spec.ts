import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_REDIS_URL, redisOptions, redisUrl } from './test-redis';

describe('test Redis', () => {
  it('reads WARMPOD_REDIS_URL and falls back to the local default', () => {
    assert.equal(redisUrl({ WARMPOD_REDIS_URL: 'redis://10.0.0.5:6380/2' }), 'redis://10.0.0.5:6380/2');
    assert.equal(redisUrl({}), DEFAULT_REDIS_URL);
    assert.equal(redisUrl({ WARMPOD_REDIS_URL: '' }), DEFAULT_REDIS_URL);
  });

  it('gives the URL as ioredis options', () => {
    assert.deepEqual(redisOptions(DEFAULT_REDIS_URL), { host: '127.0.0.1', port: 6379 });
    assert.deepEqual(redisOptions('redis://user:p%40ss@[::1]:6380/3'), {
      host: '::1',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 3,
    });
    assert.deepEqual(redisOptions('rediss://cache.example:6390'), { host: 'cache.example', port: 6390, tls: {} });
  });
});
