import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamSlots } from './stream-slots';

test('slots per tenant: refused past the limit, freed once per release, tenants apart', () => {
  const slots = new StreamSlots(2);
  const a1 = slots.take('a');
  const a2 = slots.take('a');
  assert.ok(a1 && a2);
  assert.equal(slots.take('a'), undefined);
  assert.ok(slots.take('b'), 'another tenant has its own slots');
  a1();
  a1();
  assert.equal(slots.count('a'), 1, 'a second release of the same slot frees nothing');
  assert.ok(slots.take('a'));
});
