import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { PortExposer } from './port-exposer';

// A fixed port range (a node behind forwards, or a test watching every port): endpoints must come
// from it, skip ports already taken, and name the advertised host rather than the bind host.

function listen(server: Server, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Three consecutive ports free on 127.0.0.1 now. */
async function freeRange(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const probes = [createServer(), createServer(), createServer()];
    const ok = await Promise.all(probes.map((s, i) => listen(s, base + i)));
    await Promise.all(probes.filter((_, i) => ok[i]).map(close));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

let pod: Server;
let podPort: number;

before(async () => {
  pod = createServer((s) => s.end('from the pod\n'));
  await listen(pod, 0);
  podPort = (pod.address() as { port: number }).port;
});

after(() => close(pod));

test('exposed ports come from the range, skip taken ports, carry the advertised host, and are reused once freed', async () => {
  const base = await freeRange();
  const squatter = createServer();
  assert.ok(await listen(squatter, base), 'the first port of the range is taken by someone else');
  const exposer = new PortExposer({ portRange: { from: base, to: base + 2 }, advertiseHost: 'node.example' });
  try {
    const [a] = await exposer.expose('pod-a', '127.0.0.1', [podPort], '127.0.0.1');
    const [b] = await exposer.expose('pod-b', '127.0.0.1', [podPort], '127.0.0.1');
    assert.deepEqual([a!.address, b!.address], [`node.example:${base + 1}`, `node.example:${base + 2}`]);
    assert.equal(await get(base + 1), 'from the pod\n');

    await assert.rejects(exposer.expose('pod-c', '127.0.0.1', [podPort], '127.0.0.1'), /no free port in/);
    await exposer.unexpose('pod-a');
    const [c] = await exposer.expose('pod-c', '127.0.0.1', [podPort], '127.0.0.1');
    assert.equal(c!.address, `node.example:${base + 1}`);
  } finally {
    await exposer.closeAll();
    await close(squatter);
  }
});
