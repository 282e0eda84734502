import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { WARMPOD_SERVICES } from '@warmpod/store';
import { CHART_ACL_TEMPLATE, chartAclTemplate, expectedAclRules } from './redis-acl-chart';

const committed = readFileSync(CHART_ACL_TEMPLATE, 'utf8');

test("the chart's Redis ACL helper is what the generator makes (after changing service-users.ts: npm run chart:acl)", () => {
  assert.equal(committed, chartAclTemplate());
});

test('filled in the way helm does, the helper gives the rules serviceUser makes, for prefixes with and without trailing colons', () => {
  const lines = committed.split('\n');
  for (const prefix of ['wp:', 'wp', 'team_a::', 'x-y']) {
    for (const service of WARMPOD_SERVICES) {
      const at = lines.findIndex((l) => l.includes(`eq .service "${service}"`));
      const template = lines[at + 1] ?? assert.fail(`no rules for ${service}`);
      const filled = template.split('{{ $q }}').join(prefix.replace(/:+$/, '')).split('{{ $p }}').join(prefix);
      assert.equal(filled, expectedAclRules(prefix, service), `${prefix} ${service}`);
      assert.ok(!filled.includes('{{'), 'nothing left to fill');
    }
  }
});
