import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import type { NodeView } from './node-view';
import { NodeWatch } from './node-watch';

/**
 * A protocol-level fake of the Kubernetes API server on 127.0.0.1 (no real
 * one can run here): GET /api/v1/nodes/<name> and the list+watch stream of
 * /api/v1/nodes?watch=true with fieldSelector, resourceVersion and bookmarks.
 */
class FakeApiServer {
  readonly watches: URLSearchParams[] = [];
  reads = 0;
  readStatus = 200;
  node: Record<string, unknown> = nodeObject('10', {});
  private streams: ServerResponse[] = [];
  private waiters: Array<() => void> = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeApiServer> {
    const fake: FakeApiServer = new FakeApiServer(createServer((req, res) => fake.handle(req, res)));
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    return fake;
  }

  get url(): string {
    const a = this.server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'GET' && url.pathname === '/api/v1/nodes/node-a') {
      this.reads++;
      if (this.readStatus !== 200) {
        res.writeHead(this.readStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: this.readStatus }));
      } else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.node));
    } else if (req.method === 'GET' && url.pathname === '/api/v1/nodes' && url.searchParams.get('watch') === 'true') {
      this.watches.push(url.searchParams);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      this.streams.push(res);
    } else res.writeHead(404).end();
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Sends one watch event on the newest stream. */
  send(type: string, object: Record<string, unknown>): void {
    this.streams.at(-1)!.write(`${JSON.stringify({ type, object })}\n`);
  }

  /** Ends the newest stream, as the API server does at its watch timeout. */
  endStream(): void {
    this.streams.at(-1)!.end();
  }

  async until(what: string, cond: () => boolean): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`fake API server: ${what} did not happen`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  async close(): Promise<void> {
    this.streams.forEach((s) => s.destroy());
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function nodeObject(resourceVersion: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { name: 'node-a', resourceVersion, labels: { 'topology.kubernetes.io/zone': 'a', 'kubernetes.io/hostname': 'node-a' } },
    spec,
    status: { allocatable: { cpu: '3500m', memory: '8Gi', 'nvidia.com/gpu': '1', pods: '110' } },
  };
}

let fake: FakeApiServer | undefined;
let watch: NodeWatch | undefined;
afterEach(async () => {
  watch?.stop();
  await fake?.close();
  fake = undefined;
});

function start(views: Array<NodeView | undefined>, lines: string[] = []): Promise<NodeView | undefined> {
  const server = fake!;
  watch = new NodeWatch({
    nodeName: 'node-a',
    configure: (kc) =>
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: server.url, skipTLSVerify: true }],
        users: [{ name: 'agent', token: 'fake-token' }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'agent' }],
        currentContext: 'fake',
      }),
    onView: (v) => views.push(v),
    logger: createLogger({ service: 'test', level: 'info' }, { write: (line: string) => void lines.push(line) }),
    retryMs: 50,
  });
  return watch.start();
}

describe('NodeWatch against a fake API server', () => {
  test('reads the Node, then watches it from its resourceVersion with bookmarks', async () => {
    fake = await FakeApiServer.start();
    const views: Array<NodeView | undefined> = [];
    const first = await start(views);
    assert.deepEqual(first, {
      labels: { 'topology.kubernetes.io/zone': 'a', 'kubernetes.io/hostname': 'node-a' },
      cordoned: false,
      allocatable: { cpu: 3.5, memoryMiB: 8192, gpu: 1 },
    });
    await fake.until('a watch', () => fake!.watches.length === 1);
    const q = fake.watches[0]!;
    assert.equal(q.get('fieldSelector'), 'metadata.name=node-a');
    assert.equal(q.get('resourceVersion'), '10');
    assert.equal(q.get('allowWatchBookmarks'), 'true');

    fake.send('MODIFIED', nodeObject('11', { unschedulable: true }));
    await fake.until('the cordon view', () => views.length === 2);
    assert.equal(views[1]?.cordoned, true);
    assert.equal(views[1]?.cordonReason, 'the Node is unschedulable');

    // A bookmark moves the resourceVersion; a watch the server ends resumes from it.
    fake.send('BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-a', resourceVersion: '15' } });
    await new Promise((r) => setTimeout(r, 50));
    fake.endStream();
    await fake.until('a second watch', () => fake!.watches.length === 2);
    assert.equal(fake.watches[1]!.get('resourceVersion'), '15');
    assert.equal(views.length, 2, 'a bookmark is not a change');

    fake.send('MODIFIED', nodeObject('16', { taints: [{ key: 'maintenance', effect: 'NoExecute' }] }));
    await fake.until('the taint view', () => views.length === 3);
    assert.equal(views[2]?.cordonReason, 'the Node has the NoExecute taint maintenance');

    fake.send('DELETED', nodeObject('17', {}));
    await fake.until('the deletion', () => views.length === 4);
    assert.equal(views[3], undefined);
  });

  test('410 Gone in the stream relists the Node and watches from the new resourceVersion', async () => {
    fake = await FakeApiServer.start();
    const views: Array<NodeView | undefined> = [];
    await start(views);
    await fake.until('a watch', () => fake!.watches.length === 1);
    fake.node = nodeObject('42', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] });
    fake.send('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
    fake.endStream();
    await fake.until('a relist and a new watch', () => fake!.reads === 2 && fake!.watches.length === 2);
    assert.equal(fake.watches[1]!.get('resourceVersion'), '42');
    assert.equal(views.at(-1)?.cordoned, false, 'PreferNoSchedule does not cordon');
  });

  test('without permission to read its Node the agent says so and runs without Node awareness', async () => {
    fake = await FakeApiServer.start();
    fake.readStatus = 403;
    const views: Array<NodeView | undefined> = [];
    const lines: string[] = [];
    assert.equal(await start(views, lines), undefined);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fake.reads, 1, 'a permission problem is not retried');
    assert.equal(fake.watches.length, 0);
    assert.deepEqual(views, []);
    assert.match(lines.join(''), /no permission to read Node node-a \(RBAC: nodes get\/list\/watch\): running without Node awareness/);
  });

  test('an API server that fails is retried with backoff', async () => {
    fake = await FakeApiServer.start();
    fake.readStatus = 500;
    const views: Array<NodeView | undefined> = [];
    assert.equal(await start(views), undefined);
    await fake.until('a retry', () => fake!.reads >= 2);
    fake.readStatus = 200;
    await fake.until('the view after recovery', () => views.length === 1 && fake!.watches.length === 1);
  });
});
