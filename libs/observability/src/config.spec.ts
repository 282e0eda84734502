import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { baseConfig, baseConfigSchema, ConfigError, loadConfig, readyWindowSchema } from './config';

describe('base config', () => {
  const schema = baseConfigSchema.extend({ ...readyWindowSchema.shape });

  test('defaults every app shares', () => {
    const c = loadConfig(schema, {}, 'test');
    assert.deepEqual(baseConfig(c), { redisUrl: 'redis://127.0.0.1:6379', prefix: 'wp:', logLevel: 'info' });
    assert.equal(c.NODE_READY_WINDOW_MS, 40_000);
  });

  test('one prefix rule and one ready window rule, each problem listed', () => {
    assert.equal(loadConfig(schema, { WARMPOD_PREFIX: 'team.a:' }, 'test').WARMPOD_PREFIX, 'team.a:');
    assert.throws(
      () => loadConfig(schema, { WARMPOD_PREFIX: 'has space', NODE_READY_WINDOW_MS: '10', LOG_LEVEL: 'loud' }, 'test'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /WARMPOD_PREFIX/.test(e.message) &&
        /NODE_READY_WINDOW_MS/.test(e.message) &&
        /LOG_LEVEL/.test(e.message),
    );
  });
});
