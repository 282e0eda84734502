import { open, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { POD_ID } from '@warmpod/domain';
import { peerIdentity, runChecks, serveMetrics, type ClusterIdentity, type ClusterTls, type ServiceMetrics } from '@warmpod/observability';
import { BLOB_PATH, serveBlob, type BlobServerPorts } from './blob-peers/blob-server';

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

/** The event loop counts as stuck when its ticker ran this much late. */
const LOOP_STALL_MS = 2_000;
const TICK_MS = 250;
/** How long after a stall `/healthz` still reports it (a probe can only run once the loop is free again). */
const STALL_REPORTED_MS = 10_000;
/** Each readiness check must answer within this long. */
const CHECK_TIMEOUT_MS = 1_000;

/** Paths anyone who reaches the port may read: the kubelet's probes and Prometheus (bounded labels, no pod or tenant ids). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Who may read the rest. Image blobs (`/blobs/<digest>`): the cluster's
 * other nodes only. Pod logs: the gateway, which checked the tenant, and
 * operators. A caller needs a certificate of the cluster CA (TLS verified
 * it: `authorized`); 401 without one, 403 when it names anyone else.
 */
export function agentApiAccess(path: string, caller: { authorized: boolean; identity?: ClusterIdentity }): 200 | 401 | 403 {
  if (OPEN_PATHS.has(path)) return 200;
  if (!caller.authorized) return 401;
  const who = caller.identity;
  if (path.startsWith('/blobs/')) return who?.kind === 'node' ? 200 : 403;
  return (who?.kind === 'service' && who.name === 'gateway') || who?.kind === 'operator' ? 200 : 403;
}

function callerOf(req: IncomingMessage): { authorized: boolean; identity?: ClusterIdentity } {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return { authorized: false };
  return { authorized: true, identity: peerIdentity(socket.getPeerCertificate()) };
}

/** Readiness checks by name (registered, redis, jobs): true when it holds; a rejection or a timeout counts as false. */
export type ReadinessChecks = Record<string, () => Promise<boolean> | boolean>;

/**
 * The node-local HTTP API: pod logs (the gateway proxies them: they live on
 * the node), `/healthz` (the process is alive and its event loop responsive:
 * restart it when not) and `/readyz` (it can do its work: every readiness
 * check holds), `/metrics` (Prometheus). Image blobs for the cluster's other nodes (`/blobs/<digest>`, see `blob-peers/`). Plain node:http(s) because it serves five routes and nothing else.
 * With `tls` it serves HTTPS with the node's certificate (rotated without a
 * restart) and asks callers for theirs (`agentApiAccess`); without it
 * (tests) only the open paths answer.
 */
export class AgentHttp {
  private server?: Server | TlsServer;
  private unfollowTls?: () => void;
  private ticker?: NodeJS.Timeout;
  private lastTick = Date.now();
  private lastStall?: { at: number; ms: number };

  constructor(
    private readonly logPath: (podId: string) => string,
    private readonly readiness: ReadinessChecks = {},
    private readonly stallReportedMs = STALL_REPORTED_MS,
    private readonly metrics?: ServiceMetrics,
    private readonly tls?: ClusterTls,
    /** Image blobs for peer nodes; without it `/blobs/` answers 404. */
    private readonly blobs?: BlobServerPorts,
  ) {}

  /** The last event loop stall still worth reporting, in ms; undefined when the loop kept up. */
  recentStallMs(now = Date.now()): number | undefined {
    this.tick(now);
    const stall = this.lastStall;
    return stall && now - stall.at <= this.stallReportedMs ? stall.ms : undefined;
  }

  /** The ticker (and every health probe) measures how late the loop ran it. */
  private tick(now = Date.now()): void {
    const late = now - this.lastTick - TICK_MS;
    if (late > LOOP_STALL_MS) this.lastStall = { at: now, ms: late };
    this.lastTick = now;
  }

  /** Every check with its outcome; a check that throws or hangs is false. */
  async readyChecks(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    return runChecks(this.readiness, CHECK_TIMEOUT_MS);
  }

  /** Returns the URL the gateway uses: `advertiseHost` (default: host) and the bound port. */
  async listen(host: string, port: number, advertiseHost = host): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      const url = new URL(req.url ?? '/', 'http://agent');
      const logs = /^\/pods\/([^/]+)\/logs$/.exec(url.pathname);
      const blob = BLOB_PATH.exec(url.pathname);
      const access = agentApiAccess(url.pathname, callerOf(req));
      if (access !== 200) {
        const who = url.pathname.startsWith('/blobs/') ? 'only nodes of the cluster' : 'only the gateway and operators';
        const why = access === 401 ? 'a client certificate of the cluster CA is required' : `${who} may read this`;
        res.writeHead(access, { 'content-type': 'text/plain' }).end(`${why}\n`);
      } else if ((req.method === 'GET' || req.method === 'HEAD') && blob && this.blobs) {
        serveBlob(req, res, blob[1]!, this.blobs).catch((error: Error) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`);
          else res.destroy();
        });
      } else if (req.method === 'GET' && url.pathname === '/healthz') {
        const stall = this.recentStallMs();
        if (stall !== undefined) res.writeHead(503, { 'content-type': 'text/plain' }).end(`event loop stalled for ${stall} ms\n`);
        else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.method === 'GET' && url.pathname === '/metrics' && this.metrics) {
        serveMetrics(this.metrics, res);
      } else if (req.method === 'GET' && url.pathname === '/readyz') {
        void this.readyChecks().then((body) =>
          res.writeHead(body.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`),
        );
      } else if (req.method === 'GET' && logs && POD_ID.test(logs[1]!)) {
        const tail = Math.min(Math.max(Number(url.searchParams.get('tail') ?? 1000) || 1000, 1), 100_000);
        tailFile(this.logPath(logs[1]!), tail).then(
          (text) => res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text),
          (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    };
    const tls = this.tls;
    if (tls) {
      const { ca, cert, key } = tls.current;
      // Asked, not required by the handshake: probes come without one; every other path checks it.
      const server = createTlsServer({ ca, cert, key, requestCert: true, rejectUnauthorized: false }, handler);
      this.unfollowTls = tls.onChange((m) => server.setSecureContext({ ca: m.ca, cert: m.cert, key: m.key }));
      this.server = server;
    } else {
      this.server = createServer(handler);
    }
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.lastTick = Date.now();
    this.ticker = setInterval(() => this.tick(), TICK_MS).unref();
    const addr = this.server.address() as AddressInfo;
    return `${tls ? 'https' : 'http'}://${advertiseHost}:${addr.port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    this.unfollowTls?.();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
