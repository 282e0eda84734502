import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aclRules, globLiteral, intakeConsumerUser, intakeProducerUser, redisUrlAs } from './redis-acl';

describe('Redis ACL users', () => {
  test("a tenant's producer reaches its intake queues and its own queues only, and may not list key names", () => {
    const user = intakeProducerUser('wp:', 'alpha', 's3cret', ['pods', 'control']);
    assert.equal(user.name, 'warmpod-wp-producer-alpha');
    assert.deepEqual(user.keys, ['wp:intake:alpha:pods:*', 'wp:intake:alpha:control:*', 'wp:tq:alpha:*']);
    assert.throws(() => intakeProducerUser('wp:', 'alpha', 's3cret', []), /tenant "alpha": no intake queue/);
    const rules = aclRules(user);
    assert.deepEqual(rules.slice(0, 3), ['reset', 'on', '>s3cret']);
    for (const rule of ['resetchannels', '-@dangerous', '-@admin', '-@pubsub', '-scan', '-randomkey'])
      assert.ok(rules.includes(rule), rule);
    // Later rules win: nothing dangerous is granted back after being removed, except INFO for BullMQ's version check.
    assert.ok(rules.indexOf('-@dangerous') > rules.indexOf('+@write'));
  });

  test("the door's consumer reaches every intake queue and may scan for stray ones, but no warmpod record", () => {
    const user = intakeConsumerUser('wp:', 'pw');
    assert.deepEqual(user.keys, ['wp:intake:*', 'wp:tq:*']);
    assert.ok(!aclRules(user).includes('-scan'));
  });

  test('glob characters in a prefix are literal; user names fit a redis:// URL', () => {
    assert.equal(globLiteral('a*b?[c]\\'), 'a\\*b\\?\\[c\\]\\\\');
    const user = intakeProducerUser('t[1]:', 'b', 'p@ss:word', ['q*']);
    assert.deepEqual(user.keys, ['t\\[1\\]:intake:b:q\\*:*', 't\\[1\\]:tq:b:*']);
    const url = new URL(redisUrlAs('redis://127.0.0.1:6379/2', user));
    assert.equal(decodeURIComponent(url.username), user.name);
    assert.equal(decodeURIComponent(url.password), 'p@ss:word');
    assert.equal(url.pathname, '/2');
  });
});
