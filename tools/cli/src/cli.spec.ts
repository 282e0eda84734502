import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from './main';

/** Runs the CLI in-process; what it printed and its exit code. */
async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    env,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out, err };
}

test('without a token: one line saying so, exit 3; an unreachable gateway: one line naming it, exit 4; usage errors exit 2', async () => {
  const noToken = await cli(['ps']);
  assert.equal(noToken.code, 3);
  assert.deepEqual(noToken.err, ['warmpod: no token: pass --token or set WARMPOD_TOKEN']);

  const unreachable = await cli(['ps'], { WARMPOD_TOKEN: 't', WARMPOD_URL: 'http://127.0.0.1:9' });
  assert.equal(unreachable.code, 4);
  assert.equal(unreachable.err.length, 1);
  assert.match(unreachable.err[0]!, /^warmpod: gateway http:\/\/127\.0\.0\.1:9 unreachable \(/);

  assert.equal((await cli(['frobnicate'], { WARMPOD_TOKEN: 't' })).code, 2);
  assert.equal((await cli(['run', 'x', '--port', 'http'], { WARMPOD_TOKEN: 't' })).code, 2);
  assert.equal((await cli(['ps', '--output', 'yaml'], { WARMPOD_TOKEN: 't' })).code, 2);
});
