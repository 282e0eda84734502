import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '@warmpod/observability';
import { loadGatewayConfig } from './config';

const TOKENS = '{"alpha-token-1":{"tenant":"alpha","role":"tenant"}}';

describe('loadGatewayConfig', () => {
  test('applies the defaults', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS: TOKENS });
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.prefix, 'wp:');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8080);
    assert.equal(c.defaultRegistry, '127.0.0.1:5000');
    assert.deepEqual(c.insecureRegistries, []);
    assert.equal(c.registryTimeoutMs, 5000);
    assert.equal(c.bodyLimitBytes, 65536);
    assert.equal(c.nodeReadyWindowMs, 40_000);
    assert.deepEqual([...c.tokens.values()], [{ tenant: 'alpha', role: 'tenant' }]);
    assert.deepEqual(c.rateLimit, { perSecond: 100, burst: 300 });
  });

  test('allows port 0 and splits the insecure registry list', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, GATEWAY_PORT: '0', WARMPOD_INSECURE_REGISTRIES: ' reg.lan:5000, ,other:80' });
    assert.equal(c.port, 0);
    assert.deepEqual(c.insecureRegistries, ['reg.lan:5000', 'other:80']);
  });

  test('reads tokens from a file when none are inline', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS_FILE: 'tokens.json' }, (path) => {
      assert.equal(path, 'tokens.json');
      return '{"beta-token-22":{"tenant":"beta","role":"operator"}}';
    });
    assert.deepEqual([...c.tokens.values()], [{ tenant: 'beta', role: 'operator' }]);
  });

  test('requires at least one token', () => {
    assert.throws(() => loadGatewayConfig({}), ConfigError);
    assert.throws(() => loadGatewayConfig({ WARMPOD_TOKENS: '{}' }), ConfigError);
  });

  test('names an unreadable token file without its contents', () => {
    assert.throws(
      () =>
        loadGatewayConfig({ WARMPOD_TOKENS_FILE: 'missing.json' }, () => {
          throw Object.assign(new Error('nope'), { code: 'ENOENT' });
        }),
      /WARMPOD_TOKENS_FILE cannot be read \(ENOENT\)/,
    );
  });

  test('refuses bad values', () => {
    for (const env of [
      { GATEWAY_PORT: '70000' },
      { GATEWAY_PORT: 'http' },
      { BODY_LIMIT_BYTES: '0' },
      { WARMPOD_REDIS_URL: 'not a url' },
      { WARMPOD_DEFAULT_REGISTRY: 'http://reg' },
      { LOG_LEVEL: 'loud' },
      { GATEWAY_RATE_LIMIT_PER_SECOND: '-1' },
      { GATEWAY_RATE_LIMIT_BURST: '0' },
    ]) {
      assert.throws(() => loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, ...env }), ConfigError, JSON.stringify(env));
    }
  });

  test("records layers for the nodes' platform: this machine's by default, or the one named", () => {
    assert.equal(loadGatewayConfig({ WARMPOD_TOKENS: TOKENS }).nodePlatform.os, 'linux');
    assert.deepEqual(loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, WARMPOD_NODE_PLATFORM: 'linux/arm64' }).nodePlatform, {
      os: 'linux',
      architecture: 'arm64',
    });
    assert.throws(() => loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, WARMPOD_NODE_PLATFORM: 'arm64' }), ConfigError);
  });

  test('reads the rate limit; 0 per second turns it off', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, GATEWAY_RATE_LIMIT_PER_SECOND: '0.5', GATEWAY_RATE_LIMIT_BURST: '3' });
    assert.deepEqual(c.rateLimit, { perSecond: 0.5, burst: 3 });
    assert.equal(loadGatewayConfig({ WARMPOD_TOKENS: TOKENS, GATEWAY_RATE_LIMIT_PER_SECOND: '0' }).rateLimit.perSecond, 0);
  });
});
