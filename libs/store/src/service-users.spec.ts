import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aclRules } from './redis-acl';
import { SERVICE_WRITES, serviceUser, WARMPOD_SERVICES } from './service-users';

describe("services' Redis users", () => {
  test('every service reads its whole prefix, with nothing administrative; only the change feed readers subscribe', () => {
    for (const service of WARMPOD_SERVICES) {
      const user = serviceUser('wp:', service, 'pw');
      assert.equal(user.name, `warmpod-wp-${service}`);
      assert.deepEqual(user.readKeys, ['wp:*'], service);
      assert.ok(!user.keys.includes('wp:*'), `${service} may not write every key`);
      assert.ok(
        user.keys.every((k) => k.startsWith('wp:')),
        `${service} is fenced to its prefix`,
      );
      const rules = aclRules(user);
      assert.ok(rules.includes('&wp:*') && rules.includes('+publish') && rules.includes('+time'), service);
      for (const rule of ['-@dangerous', '-@admin']) assert.ok(rules.includes(rule), rule);
      assert.equal(rules.includes('+subscribe'), service === 'scheduler' || service === 'prepuller', service);
    }
    const rules = aclRules(serviceUser('wp:', 'scheduler', 'pw'));
    assert.ok(rules.indexOf('+subscribe') > rules.indexOf('-@pubsub'), 'channel commands come back after the category is removed');
  });

  test('writes follow SERVICE_WRITES: what is whose', () => {
    const keys = (s: (typeof WARMPOD_SERVICES)[number]) => serviceUser('wp:', s, 'pw').keys;
    assert.ok(keys('gateway').includes('wp:ratelimit:*') && !keys('gateway').includes('wp:pull:*:*'));
    assert.ok(!keys('gateway').some((k) => k.startsWith('wp:prepull:')));
    assert.ok(keys('scheduler').includes('wp:prepull:hints') && !keys('scheduler').includes('wp:ratelimit:*'));
    assert.ok(keys('worker-agent').includes('wp:pull:*:*') && !keys('worker-agent').includes('wp:pin:*'));
    assert.ok(!keys('worker-agent').includes('wp:pool:*') && !keys('worker-agent').includes('wp:intake:*'));
    assert.ok(keys('gateway').includes('wp:scheduling:*') && keys('gateway').includes('wp:node-*'));
    assert.ok(!SERVICE_WRITES['worker-agent'].includes('rateBuckets'));
  });

  test('the prepuller writes only its pulls, hints, protected sets, the pins it retires, their events and node queues', () => {
    const user = serviceUser('wp:', 'prepuller', 'pw');
    assert.ok(user.keys.includes('wp:pull:*:*'));
    assert.ok(user.keys.includes('wp:node-*'));
    assert.ok(user.keys.includes('wp:tenant:*:pins'));
    assert.ok(!user.keys.some((k) => k.startsWith('wp:pod') || k.startsWith('wp:node:') || k === 'wp:tenant:*'));
    assert.ok(aclRules(user).includes('%R~wp:*'));
  });
});
