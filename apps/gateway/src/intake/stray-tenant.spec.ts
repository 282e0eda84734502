import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys } from '@warmpod/store';
import { strayTenantOf } from './stray-tenant';

test('only a tenant-shaped name between the intake stem and the queue is a tenant', () => {
  const keys = new Keys('wp:');
  assert.equal(strayTenantOf(keys, 'wp:intake:gamma:pods:meta'), 'gamma');
  for (const key of [
    'wp:intake:alpha:pods:x:pods:meta', // written by alpha under its own queue
    'wp:intake:Alpha:pods:meta',
    'wp:intake::pods:meta',
    'wp:intake:pods:meta',
    'wp:intake:gamma:control:meta',
    'other:intake:gamma:pods:meta',
  ])
    assert.equal(strayTenantOf(keys, key), undefined, key);
});
