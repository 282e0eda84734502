import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { baseConfig, baseConfigSchema, ConfigError, loadConfig, readyWindowSchema } from './config';

describe('base config', () => {
  const schema = baseConfigSchema.extend({ ...readyWindowSchema.shape });

  test('defaults every app shares', () => {
    const c = loadConfig(schema, {}, 'test');
    assert.deepEqual(baseConfig(c), {
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'wp:',
      logLevel: 'info',
      observability: { metrics: true, events: true },
    });
    assert.equal(c.NODE_READY_WINDOW_MS, 40_000);
  });

  test("the service's Redis user and its password from a file go into the URL; a half-given credential or TLS is refused", () => {
    const files: Record<string, string> = { '/s/pw': 'p@ss:w/rd\n', '/s/empty': '' };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT');
      return text;
    };
    const env = { WARMPOD_REDIS_URL: 'rediss://redis.svc:6380/1', WARMPOD_REDIS_USERNAME: 'warmpod-wp-gateway' };
    const c = baseConfig(
      loadConfig(schema, { ...env, WARMPOD_REDIS_PASSWORD_FILE: '/s/pw', WARMPOD_REDIS_TLS_CA_FILE: '/s/ca' }, 't'),
      read,
    );
    const url = new URL(c.redisUrl);
    assert.deepEqual(
      [url.protocol, url.username, decodeURIComponent(url.password), url.pathname],
      ['rediss:', 'warmpod-wp-gateway', 'p@ss:w/rd', '/1'],
    );
    assert.equal(c.redisTlsCaFile, '/s/ca');
    const fails = (over: Record<string, string>, message: RegExp) =>
      assert.throws(
        () => baseConfig(loadConfig(schema, { ...env, ...over }, 't'), read),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    fails({}, /needs WARMPOD_REDIS_PASSWORD_FILE/);
    fails({ WARMPOD_REDIS_PASSWORD_FILE: '/s/none' }, /cannot read \/s\/none/);
    fails({ WARMPOD_REDIS_PASSWORD_FILE: '/s/empty' }, /is empty/);
    fails({ WARMPOD_REDIS_PASSWORD_FILE: '/s/pw', WARMPOD_REDIS_URL: 'redis://x:6379', WARMPOD_REDIS_TLS_CA_FILE: '/s/ca' }, /not rediss/);
  });

  test('metrics and events are switched off by `off` only; any other word is refused, naming the setting', () => {
    const off = baseConfig(loadConfig(schema, { WARMPOD_METRICS: 'off', WARMPOD_EVENTS: 'off' }, 'test'));
    assert.deepEqual(off.observability, { metrics: false, events: false });
    const on = baseConfig(loadConfig(schema, { WARMPOD_METRICS: 'on', WARMPOD_EVENTS: 'off' }, 'test'));
    assert.deepEqual(on.observability, { metrics: true, events: false });
    assert.throws(
      () => loadConfig(schema, { WARMPOD_METRICS: 'false', WARMPOD_EVENTS: '0' }, 'test'),
      (e: unknown) =>
        e instanceof ConfigError && /WARMPOD_METRICS: on or off/.test(e.message) && /WARMPOD_EVENTS: on or off/.test(e.message),
    );
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
