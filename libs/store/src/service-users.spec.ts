import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aclRules } from './redis-acl';
import { serviceUser } from './service-users';

describe("services' Redis users", () => {
  test('a service is fenced to its prefix, with pub/sub on its channels and nothing administrative', () => {
    const user = serviceUser('wp:', 'scheduler', 'pw');
    assert.equal(user.name, 'warmpod-wp-scheduler');
    assert.deepEqual(user.keys, ['wp:*']);
    const rules = aclRules(user);
    assert.ok(rules.includes('&wp:*') && rules.includes('+subscribe') && rules.includes('+publish'));
    assert.ok(rules.indexOf('+subscribe') > rules.indexOf('-@pubsub'), 'channel commands come back after the category is removed');
    for (const rule of ['-@dangerous', '-@admin']) assert.ok(rules.includes(rule), rule);
  });

  test('the prepuller reads the whole prefix and writes only its pulls, hints, pins, their events and node queues', () => {
    const user = serviceUser('wp:', 'prepuller', 'pw');
    assert.deepEqual(user.readKeys, ['wp:*']);
    assert.ok(user.keys.includes('wp:pull:*:*'));
    assert.ok(user.keys.includes('wp:node-*'));
    assert.ok(!user.keys.some((k) => k.startsWith('wp:pod') || k.startsWith('wp:node:')));
    assert.ok(aclRules(user).includes('%R~wp:*'));
  });
});
