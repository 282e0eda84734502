import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';

/** One request the proxy passed on. */
export interface ProxiedRequest {
  method: string;
  path: string;
  kind: 'blob' | 'manifest' | 'other';
  /** The blob or manifest digest (or tag) asked for. */
  reference?: string;
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
  /** Who asked, as `identify` named the client; undefined without it. */
  client?: string;
  /** Cut short by an injected fault. */
  cut: boolean;
}

export interface RegistryProxyOptions {
  /** `host:port` of the registry behind the proxy. */
  target: string;
  /**
   * Names the client of a new connection from its source port (e.g. which
   * node agent), once per connection, while the connection is open. Requests
   * are not held for it: `identified()` waits until every record has its name.
   */
  identify?: (remotePort: number) => Promise<string | undefined> | string | undefined;
}

const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/**
 * A plain-HTTP proxy in front of a LocalRegistry, on loopback, for tests and
 * benchmarks: it records every request (so a test can count blob fetches)
 * and can cut blob downloads part-way, as a registry failing mid-pull does.
 */
export class RegistryProxy {
  readonly requests: ProxiedRequest[] = [];
  private cutAfter?: number;
  private bytesPerSecond?: number;
  private readonly clients = new WeakMap<Socket, Promise<string | undefined>>();
  private readonly naming = new Set<Promise<unknown>>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    private readonly server: Server,
    private readonly opts: RegistryProxyOptions,
  ) {}

  static async start(opts: RegistryProxyOptions): Promise<RegistryProxy> {
    const server = createServer();
    const proxy = new RegistryProxy(server, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.forward(req, res));
    server.on('connection', (socket: Socket) => proxy.learnClient(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** From now on, blob downloads end abruptly after `afterBytes` body bytes; `undefined` heals. */
  failBlobs(afterBytes: number | undefined): void {
    this.cutAfter = afterBytes;
  }

  /** From now on, each blob download is paced to `bytesPerSecond` (a slow link); `undefined` lifts it. */
  limitRate(bytesPerSecond: number | undefined): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Resolves once every request recorded so far carries its client's name (when `identify` finds one). */
  async identified(): Promise<void> {
    await Promise.all([...this.naming]);
  }

  /** Blob GETs answered in full, by client, then by digest (after `identified()`). */
  blobFetches(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const r of this.requests) {
      if (r.kind !== 'blob' || r.method !== 'GET' || r.cut || r.status !== 200) continue;
      const client = r.client ?? 'unknown';
      const byDigest = out.get(client) ?? new Map<string, number>();
      byDigest.set(r.reference!, (byDigest.get(r.reference!) ?? 0) + 1);
      out.set(client, byDigest);
    }
    return out;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private learnClient(socket: Socket): void {
    if (!this.opts.identify || socket.remotePort === undefined) return;
    const port = socket.remotePort;
    this.clients.set(
      socket,
      Promise.resolve(this.opts.identify(port)).catch(() => undefined),
    );
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const blob = BLOB.exec(path);
    const manifest = MANIFEST.exec(path);
    const record: ProxiedRequest = {
      method: req.method ?? 'GET',
      path,
      kind: blob ? 'blob' : manifest ? 'manifest' : 'other',
      ...(blob || manifest ? { reference: (blob ?? manifest)![2]! } : {}),
      status: 0,
      bytes: 0,
      cut: false,
    };
    this.requests.push(record);
    const client = this.clients.get(req.socket);
    if (client) {
      const named = client.then((name) => {
        if (name) record.client = name;
      });
      this.naming.add(named);
      void named.finally(() => this.naming.delete(named));
    }
    const [host, port] = this.opts.target.split(':');
    const upstream = request(
      { host, port: Number(port), method: req.method, path, headers: { ...req.headers, host: this.opts.target }, agent: this.agent },
      (up) => {
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        const blobGet = record.kind === 'blob' && record.method === 'GET';
        const cutAfter = blobGet ? this.cutAfter : undefined;
        const rate = blobGet ? this.bytesPerSecond : undefined;
        const started = Date.now();
        // Piped, so a slow client slows the registry read instead of filling memory.
        const meter = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            if (cutAfter !== undefined && record.bytes + chunk.length > cutAfter) {
              record.cut = true;
              const part = chunk.subarray(0, Math.max(0, cutAfter - record.bytes));
              record.bytes = cutAfter;
              done(null, part);
              // The connection ends without the rest: what a registry dying mid-blob looks like.
              setImmediate(() => {
                up.destroy();
                res.destroy();
              });
              return;
            }
            record.bytes += chunk.length;
            const wait = rate ? started + (record.bytes / rate) * 1000 - Date.now() : 0;
            if (wait > 0) setTimeout(() => done(null, chunk), wait);
            else done(null, chunk);
          },
        });
        up.pipe(meter).pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
