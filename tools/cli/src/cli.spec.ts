import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

test('events: data that is not JSON is printed as text and the follow goes on to the next event', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('id: 1-0\nevent: pod\ndata: {not json\n\nid: 2-0\nevent: pod\ndata: {"kind":"pod","resource":"pod-1","phase":"Running"}\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const text = await cli(['events'], { WARMPOD_TOKEN: 't', WARMPOD_URL: url });
    assert.deepEqual(text, { code: 0, out: ['pod {not json', '2-0 pod pod-1 phase=Running'], err: [] });
    const json = await cli(['events', '--output', 'json'], { WARMPOD_TOKEN: 't', WARMPOD_URL: url });
    assert.equal(json.code, 0);
    assert.deepEqual(
      json.out.map((l) => JSON.parse(l) as unknown),
      [
        { id: '1-0', event: 'pod', data: '{not json' },
        { id: '2-0', event: 'pod', data: { kind: 'pod', resource: 'pod-1', phase: 'Running' } },
      ],
    );
  } finally {
    server.close();
  }
});
