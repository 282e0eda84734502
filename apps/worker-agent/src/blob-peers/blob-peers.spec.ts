import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { NodeRecord } from '@warmpod/store';
import { agentApiAccess } from '../agent-http';
import { BLOB_PATH, byteRange, serveBlob, UploadSlots, type ServeOutcome } from './blob-server';
import { blobHolders, StorePeerDirectory } from './peer-directory';

const hex = (c: string): string => `sha256:${c.repeat(64)}`;
const node = (id: string, over: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  labels: {},
  capacity: { cpu: 1, memoryMiB: 1, gpu: 0 },
  agentUrl: `https://${id}:1`,
  capabilities: {},
  registeredAt: '',
  heartbeatAt: '',
  cordoned: false,
  allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
  cachedDigests: [],
  ...over,
});
const holding = (image: string, layers: string[]): Partial<NodeRecord> => ({
  cachedImages: [{ digest: image, sizeBytes: 1, layers: layers.map((digest) => ({ digest, sizeBytes: 1 })) }],
});

describe('blob access and paths', () => {
  test('only node certificates of the cluster read blobs', () => {
    const path = `/blobs/${hex('a')}`;
    assert.equal(agentApiAccess(path, { authorized: true, identity: { kind: 'node', name: 'n2' } }), 200);
    assert.equal(agentApiAccess(path, { authorized: true, identity: { kind: 'service', name: 'gateway' } }), 403);
    assert.equal(agentApiAccess(path, { authorized: true, identity: { kind: 'operator', name: 'ops' } }), 403);
    assert.equal(agentApiAccess(path, { authorized: true }), 403);
    assert.equal(agentApiAccess(path, { authorized: false }), 401);
  });

  test('a blob path names one sha256 digest, nothing else', () => {
    assert.equal(BLOB_PATH.exec(`/blobs/${hex('a')}`)?.[1], hex('a'));
    for (const bad of [`/blobs/${hex('A')}`, '/blobs/sha256:abc', `/blobs/${hex('a')}/x`, `/blobs/sha512:${'a'.repeat(128)}`]) {
      assert.equal(BLOB_PATH.exec(bad), null, bad);
    }
  });

  test('byte ranges: whole, from-to, open-ended, suffix, unsatisfiable', () => {
    assert.equal(byteRange(undefined, 10), undefined);
    assert.deepEqual(byteRange('bytes=2-5', 10), { start: 2, end: 5 });
    assert.deepEqual(byteRange('bytes=2-', 10), { start: 2, end: 9 });
    assert.deepEqual(byteRange('bytes=8-20', 10), { start: 8, end: 9 });
    assert.deepEqual(byteRange('bytes=-3', 10), { start: 7, end: 9 });
    for (const bad of ['bytes=10-', 'bytes=5-2', 'bytes=-', 'items=1-2', 'bytes=1-2,4-5', 'bytes=-0'])
      assert.equal(byteRange(bad, 10), 'invalid', bad);
  });
});

describe('blobHolders', () => {
  test('whole-image holders first, then layer holders; never itself, lost, draining or plain-HTTP nodes', () => {
    const image = hex('1');
    const layer = hex('2');
    const nodes = [
      node('self', holding(image, [layer])),
      node('whole', holding(image, [layer])),
      node('layer', holding(hex('9'), [layer])),
      node('lost', { ...holding(image, [layer]), lostAt: 'x' }),
      node('draining', { ...holding(image, [layer]), drainingAt: 'x' }),
      node('plain', { ...holding(image, [layer]), agentUrl: 'http://plain:1' }),
      node('other', holding(hex('8'), [hex('7')])),
    ];
    assert.deepEqual(
      blobHolders(nodes, 'self', image, layer).map((p) => p.node),
      ['whole', 'layer'],
    );
    assert.deepEqual(
      blobHolders(nodes, 'self', hex('5'), hex('7')).map((p) => p.node),
      ['other'],
    );
    // A node still unpacking the image has every blob: after whole-image holders, before layer holders.
    const withUnpacking = [...nodes, node('unpacking')];
    assert.deepEqual(
      blobHolders(withUnpacking, 'self', image, layer, new Set(['unpacking', 'lost'])).map((p) => p.node),
      ['whole', 'unpacking', 'layer'],
    );
  });
});

describe('the upload cap', () => {
  async function until(what: string, check: () => boolean, deadlineMs = 5_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  test('beyond NODE_PEER_SERVE_CONCURRENCY uploads a peer gets 503 at once; a finished upload frees its slot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wp-upload-cap-'));
    const path = join(dir, 'blob');
    await writeFile(path, 'layer bytes');
    const slots = new UploadSlots(1);
    const outcomes: ServeOutcome[] = [];
    // The first upload is held open (its blob lookup waits on the gate) while the second asks.
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let first = true;
    const server: Server = createServer((req, res) => {
      const held = async () => {
        if (first) {
          first = false;
          await gate;
        }
        return { path, size: 11 };
      };
      void serveBlob(req, res, hex('a'), { held, slots, served: (_bytes, outcome) => outcomes.push(outcome) });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/${hex('a')}`;
    try {
      const held = fetch(url);
      await until('the first upload to take the slot', () => slots.inUse === 1);
      const turnedAway = await fetch(url);
      assert.equal(turnedAway.status, 503);
      assert.match(await turnedAway.text(), /serving 1 blobs to peers already \(NODE_PEER_SERVE_CONCURRENCY\): ask another source/);
      assert.deepEqual(outcomes, ['busy']);
      open();
      const served = await held;
      assert.equal(await served.text(), 'layer bytes');
      await until('the slot to be given back', () => slots.inUse === 0);
      const next = await fetch(url);
      assert.equal(next.status, 200);
      await next.text();
      await until('both uploads to be counted', () => outcomes.length === 3);
      assert.deepEqual(outcomes, ['busy', 'complete', 'complete']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a blob the node does not hold gives its slot back too', async () => {
    const slots = new UploadSlots(1);
    const server: Server = createServer((req, res) => void serveBlob(req, res, hex('b'), { held: async () => undefined, slots }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/${hex('b')}`;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await fetch(url)).status, 404);
      assert.equal(slots.inUse, 0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('StorePeerDirectory', () => {
  const image = hex('1');
  const layer = hex('2');
  function directory(fail = 0) {
    let reads = 0;
    const nodes = {
      list: async () => {
        reads++;
        if (reads <= fail) throw new Error('redis away');
        return [node('self'), node('whole', holding(image, [layer]))];
      },
    };
    return { dir: new StorePeerDirectory(nodes, { forDigest: async () => [] }, 'self'), reads: () => reads };
  }

  test("a reading prepared ahead of a pull serves its blobs' lookups: the store is read once", async () => {
    const d = directory();
    d.dir.prepare(image);
    assert.equal(d.reads(), 1);
    assert.deepEqual(
      (await d.dir.holders(image, layer)).map((p) => p.node),
      ['whole'],
    );
    await d.dir.holders(image, hex('3'));
    assert.equal(d.reads(), 1);
  });

  test('a prepared reading that failed is not kept: the next lookup reads again', async () => {
    const d = directory(1);
    d.dir.prepare(image);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      (await d.dir.holders(image, layer)).map((p) => p.node),
      ['whole'],
    );
    assert.equal(d.reads(), 2);
  });
});
