import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryRateLimiter } from './registry-rate';

describe('RegistryRateLimiter', () => {
  test('allows a burst, then one start per 1/rate seconds, per registry host', () => {
    let now = 0;
    const limiter = new RegistryRateLimiter(2, 2, () => now);
    assert.equal(limiter.tryTake('r1'), true);
    assert.equal(limiter.tryTake('r1'), true);
    assert.equal(limiter.tryTake('r1'), false);
    assert.equal(limiter.tryTake('r2'), true, 'another registry has its own bucket');
    assert.equal(limiter.nextTokenAt('r1'), 500);
    now = 499;
    assert.equal(limiter.tryTake('r1'), false);
    now = 500;
    assert.equal(limiter.tryTake('r1'), true);
    assert.equal(limiter.tryTake('r1'), false);
  });

  test('never saves up more than the burst', () => {
    let now = 0;
    const limiter = new RegistryRateLimiter(1, 3, () => now);
    now = 60_000;
    assert.equal(limiter.available('r'), 3);
    for (let i = 0; i < 3; i++) assert.equal(limiter.tryTake('r'), true);
    assert.equal(limiter.tryTake('r'), false);
  });

  test('a fractional rate waits whole intervals; the default burst is one', () => {
    let now = 0;
    const limiter = new RegistryRateLimiter(0.5, undefined, () => now);
    assert.equal(limiter.burst, 1);
    assert.equal(limiter.tryTake('r'), true);
    assert.equal(limiter.nextTokenAt('r'), 2_000);
    now = 2_000;
    assert.equal(limiter.tryTake('r'), true);
  });

  test('refuses a rate that is not positive', () => {
    assert.throws(() => new RegistryRateLimiter(0));
  });
});
