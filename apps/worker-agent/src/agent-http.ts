import { open, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { POD_ID } from '@warmpod/domain';
import { runChecks, serveMetrics, type ServiceMetrics } from '@warmpod/observability';

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

/** Readiness checks by name (registered, redis, jobs): true when it holds; a rejection or a timeout counts as false. */
export type ReadinessChecks = Record<string, () => Promise<boolean> | boolean>;

/**
 * The node-local HTTP API: pod logs (the gateway proxies them: they live on
 * the node), `/healthz` (the process is alive and its event loop responsive:
 * restart it when not) and `/readyz` (it can do its work: every readiness
 * check holds), `/metrics` (Prometheus). Plain node:http because it serves four routes and nothing else.
 */
export class AgentHttp {
  private server?: Server;
  private ticker?: NodeJS.Timeout;
  private lastTick = Date.now();
  private lastStall?: { at: number; ms: number };

  constructor(
    private readonly logPath: (podId: string) => string,
    private readonly readiness: ReadinessChecks = {},
    private readonly stallReportedMs = STALL_REPORTED_MS,
    private readonly metrics?: ServiceMetrics,
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
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://agent');
      const logs = /^\/pods\/([^/]+)\/logs$/.exec(url.pathname);
      if (req.method === 'GET' && url.pathname === '/healthz') {
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
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.lastTick = Date.now();
    this.ticker = setInterval(() => this.tick(), TICK_MS).unref();
    const addr = this.server.address() as AddressInfo;
    return `http://${advertiseHost}:${addr.port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
