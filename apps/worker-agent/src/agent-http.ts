import { open, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { POD_ID } from '@warmpod/domain';

const MAX_TAIL_BYTES = 4 * 1024 * 1024;

/** Reads the last `lines` lines of a log file without loading a huge file whole. */
export async function tailFile(path: string, lines: number): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return '';
  }
  const start = Math.max(0, size - MAX_TAIL_BYTES);
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const all = buffer.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    return all
      .slice(-lines)
      .map((l) => `${l}\n`)
      .join('');
  } finally {
    await handle.close();
  }
}

/**
 * The node-local read API the gateway proxies to: pod logs live on the node.
 * Plain node:http because it serves two routes and nothing else.
 */
export class AgentHttp {
  private server?: Server;

  constructor(private readonly logPath: (podId: string) => string) {}

  /** Returns the URL the gateway uses: `advertiseHost` (default: host) and the bound port. */
  async listen(host: string, port: number, advertiseHost = host): Promise<string> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://agent');
      const logs = /^\/pods\/([^/]+)\/logs$/.exec(url.pathname);
      if (req.method === 'GET' && url.pathname === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.method === 'GET' && logs && POD_ID.test(logs[1]!)) {
        const tail = Math.min(Math.max(Number(url.searchParams.get('tail') ?? 1000) || 1000, 1), 100_000);
        tailFile(this.logPath(logs[1]!), tail).then(
          (text) => res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text),
          (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    return `http://${advertiseHost}:${addr.port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
