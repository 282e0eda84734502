import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { defineScript, loadLua, LUA_DIR } from './lua-script';
import * as checkpointScripts from './scripts/checkpoint-scripts';
import * as eventScripts from './scripts/event-scripts';
import * as nodeScripts from './scripts/node-scripts';
import * as pinScripts from './scripts/pin-scripts';
import * as podScripts from './scripts/pod-scripts';
import * as poolScripts from './scripts/pool-scripts';
import * as prepullScripts from './scripts/prepull-scripts';
import * as quotaScripts from './scripts/quota-scripts';
import * as rateScripts from './scripts/rate-scripts';

function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lua-'));
  mkdirSync(join(dir, 'includes'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('Lua scripts', () => {
  test('every .lua file has a typed wrapper, and every wrapper loaded with its header checked', () => {
    const wrapped = [
      checkpointScripts,
      eventScripts,
      nodeScripts,
      pinScripts,
      podScripts,
      poolScripts,
      prepullScripts,
      quotaScripts,
      rateScripts,
    ]
      .flatMap((m) => Object.values(m))
      .map((s) => s.name)
      .sort();
    const files = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -'.lua'.length))
      .sort();
    assert.deepEqual(wrapped, files);
  });

  test('includes are inlined once each, nested ones too; KEYS, ARGV and tails are read from the header', () => {
    const dir = scratch({
      'includes/a.lua': '--- @include "b"\nlocal A = 1\n',
      'includes/b.lua': 'local B = 2\n',
      'run-1.lua': '--[[\n  KEYS[1] status\n  ARGV[1] podId\n  ARGV[2...] fields\n]]\n--- @include "a"\n--- @include "b"\nreturn 1\n',
    });
    const lua = loadLua('run-1', dir);
    assert.equal((lua.source.match(/local B = 2/g) ?? []).length, 1);
    assert.ok(lua.source.indexOf('local B') < lua.source.indexOf('local A'));
    assert.deepEqual(lua.slots, { keys: ['status'], args: ['podId'], restArgs: 'fields' });
    assert.match(lua.sha, /^[0-9a-f]{40}$/);
  });

  test('a header out of order, or names that differ from the caller, fail at load time', () => {
    const dir = scratch({ 'bad-1.lua': '--[[\n  KEYS[1] a\n  ARGV[2] b\n]]\nreturn 1\n' });
    assert.throws(() => loadLua('bad-1', dir), /out of order/);
    assert.throws(
      () => defineScript('reserveCapacity-3', { keys: ['node', 'reservations', 'usage'], args: [], reply: z.number() }),
      /KEYS node,usage,reservations in the header/,
    );
  });
});
