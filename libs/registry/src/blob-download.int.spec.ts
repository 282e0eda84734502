import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_BLOB_REDIRECTS } from './blob-download';
import { RegistryError } from './errors';
import { RegistryClient } from './registry-client';

// Loopback HTTP servers standing in for a registry that hands blob GETs off to blob storage.
const bytes = Buffer.alloc(3 * 1024 * 1024, 'warmpod');
const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; host: string }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// Each case twice: in this thread (a small blob) and on a download worker thread (a large one).
for (const [where, threadMinBytes] of [
  ['in this thread', Number.MAX_SAFE_INTEGER],
  ['on a worker thread', 0],
] as const) {
  describe(`RegistryClient.fetchBlob over node:http, ${where}`, () => {
    let dir: string;
    let storage: { server: Server; host: string };
    let registry: { server: Server; host: string };
    const client = new RegistryClient({ insecureRegistries: [], timeoutMs: 300, threadMinBytes });

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wp-blob-download-'));
      storage = await serve((req, res) => {
        if (req.url === '/stall') {
          res.writeHead(200, { 'content-length': bytes.length });
          res.write(bytes.subarray(0, 1024)); // and nothing more
          return;
        }
        res.writeHead(200, { 'content-length': bytes.length }).end(req.url === '/wrong' ? Buffer.alloc(bytes.length) : bytes);
      });
      registry = await serve((req, res) => {
        const repo = req.url?.split('/')[2];
        if (repo === 'redirected') return void res.writeHead(307, { location: `http://${storage.host}/blob?sig=1` }).end();
        if (repo === 'relative') return void res.writeHead(302, { location: `/v2/direct/blobs/${digest}` }).end();
        if (repo === 'loop') return void res.writeHead(307, { location: req.url }).end();
        if (repo === 'stalled') return void res.writeHead(307, { location: `http://${storage.host}/stall` }).end();
        if (repo === 'wrong') return void res.writeHead(307, { location: `http://${storage.host}/wrong` }).end();
        if (repo === 'direct') return void res.writeHead(200).end(bytes);
        if (repo === 'private') return void res.writeHead(401).end();
        res.writeHead(404).end();
      });
    });
    after(async () => {
      registry.server.closeAllConnections();
      storage.server.closeAllConnections();
      await Promise.all([registry, storage].map((s) => new Promise((resolve) => s.server.close(resolve))));
      await rm(dir, { recursive: true, force: true });
    });

    const fetchInto = (repo: string, name: string) => client.fetchBlob(registry.host, repo, digest, bytes.length, join(dir, name));

    test('follows a redirect to blob storage (absolute or relative) and verifies what it gets', async () => {
      const counts: number[] = [];
      await client.fetchBlob(registry.host, 'redirected', digest, bytes.length, join(dir, 'a'), (n) => counts.push(n));
      assert.deepEqual(await readFile(join(dir, 'a')), bytes);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        bytes.length,
      );
      assert.ok(counts.length > 1, 'progress comes as the bytes arrive, not once at the end');
      await fetchInto('relative', 'b');
      assert.deepEqual(await readFile(join(dir, 'b')), bytes);
    });

    test('refusals keep their kinds and wording', async () => {
      await assert.rejects(fetchInto('missing', 'c'), (e: unknown) => e instanceof RegistryError && e.kind === 'not-found');
      await assert.rejects(
        fetchInto('private', 'c'),
        (e: unknown) => e instanceof RegistryError && e.kind === 'denied' && /refused access .* \(HTTP 401\)/.test(e.message),
      );
    });

    test(`gives up after ${MAX_BLOB_REDIRECTS} redirects`, async () => {
      await assert.rejects(
        fetchInto('loop', 'd'),
        (e: unknown) => e instanceof RegistryError && e.kind === 'unavailable' && /redirects/.test(e.message),
      );
    });

    test('a sender that stops mid-body is cut off; a wrong body fails verification; no partial file stays', async () => {
      await assert.rejects(fetchInto('stalled', 'e'), (e: unknown) => e instanceof RegistryError && e.kind === 'unavailable');
      await assert.rejects(
        fetchInto('wrong', 'f'),
        (e: unknown) => e instanceof RegistryError && e.kind === 'invalid' && /failed verification/.test(e.message),
      );
      assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
    });

    test('a registry that does not listen is unavailable, naming why', async () => {
      const closed = await serve(() => undefined);
      await new Promise((resolve) => closed.server.close(resolve));
      await assert.rejects(
        client.fetchBlob(closed.host, 'direct', digest, bytes.length, join(dir, 'g')),
        (e: unknown) => e instanceof RegistryError && e.kind === 'unavailable' && /ECONNREFUSED/.test(e.message),
      );
    });
  });
}

test('a download worker that cannot start fails the fetch as unavailable (worth a retry), leaving no file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wp-blob-download-noworker-'));
  try {
    const client = new RegistryClient({
      insecureRegistries: [],
      timeoutMs: 300,
      threadMinBytes: 0,
      downloadWorkerScript: join(dir, 'missing.js'),
    });
    await assert.rejects(
      client.fetchBlob('127.0.0.1:1', 'repo', digest, bytes.length, join(dir, 'blob')),
      (e: unknown) => e instanceof RegistryError && e.kind === 'unavailable' && /download worker: Cannot find module/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
