import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '@warmpod/observability';
import { loadGatewayConfig } from '../config';

const tokens = JSON.stringify({
  'alpha-token-0001': { tenant: 'alpha', role: 'tenant' },
  'beta-token-0002': { tenant: 'beta', role: 'tenant' },
});

describe('queue door config', () => {
  test('off by default; limits and the consumer URL default sensibly', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS: tokens, WARMPOD_REDIS_URL: 'redis://127.0.0.1:6390' });
    assert.deepEqual(c.intake, {
      tenants: [],
      redisUrl: 'redis://127.0.0.1:6390',
      maxInFlight: 20,
      rate: { max: 50, durationMs: 1000 },
      dataLimitBytes: 65_536,
      pollMs: 200,
      sweepMs: 5000,
    });
  });

  test('tenants must be tenants some token names; limits are validated', () => {
    const c = loadGatewayConfig({ WARMPOD_TOKENS: tokens, INTAKE_TENANTS: 'alpha, beta,alpha', INTAKE_RATE_MAX: '0' });
    assert.deepEqual(c.intake.tenants, ['alpha', 'beta']);
    assert.equal(c.intake.rate.max, 0);
    assert.throws(
      () => loadGatewayConfig({ WARMPOD_TOKENS: tokens, INTAKE_TENANTS: 'alpha,ghost' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /INTAKE_TENANTS: ghost is not a tenant/);
        return true;
      },
    );
    assert.throws(() => loadGatewayConfig({ WARMPOD_TOKENS: tokens, INTAKE_MAX_IN_FLIGHT: '0' }), ConfigError);
    assert.throws(() => loadGatewayConfig({ WARMPOD_TOKENS: tokens, INTAKE_REDIS_URL: 'not a url' }), ConfigError);
  });
});
