import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { within } from '../within';
import type { ServiceMetrics } from './registry';

/** Readiness checks by name: true when it holds; a rejection or a timeout counts as false. */
export type HealthChecks = Record<string, () => Promise<boolean> | boolean>;

/** The body of `/metrics` when metrics are off (every service answers it with 404). */
export const METRICS_OFF = 'metrics are off (WARMPOD_METRICS=off)\n';

/** Each readiness check must answer within this long. */
const CHECK_TIMEOUT_MS = 1_000;

/**
 * Writes the metrics exposition; a collector that fails makes a 500 with the
 * reason, never a hang. Metrics switched off: 404, saying so.
 */
export function serveMetrics(metrics: ServiceMetrics, res: ServerResponse): void {
  if (!metrics.enabled) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(METRICS_OFF);
    return;
  }
  metrics.exposition().then(
    ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
    (error: unknown) =>
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
  );
}

/** Every check with its outcome, each within `timeoutMs`; ready only when there are checks and all hold. */
export async function runChecks(
  checks: HealthChecks,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
  const names = Object.keys(checks);
  const outcomes = await Promise.all(names.map((name) => checkWithin(checks[name]!, timeoutMs)));
  const results = Object.fromEntries(names.map((name, i) => [name, outcomes[i] === true]));
  return { ready: names.length > 0 && outcomes.every((o) => o === true), checks: results };
}

/** A check's outcome: false when it throws, says no, or does not answer within `ms`. */
function checkWithin(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  return within(Promise.resolve().then(check), ms, 'a health check').then(
    (ok) => ok === true,
    () => false,
  );
}

/**
 * The small HTTP listener of a service that has no HTTP API of its own
 * (scheduler, prepuller): `/metrics`, `/healthz` (the process serves) and
 * `/readyz` (every check holds, each within a time limit). Plain node:http.
 */
export class ServiceHttp {
  private server?: Server;
  private boundUrl?: string;

  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly checks: HealthChecks,
  ) {}

  /** Resolves with the bound URL (the real port when asked for 0). */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://service').pathname;
      if (req.method !== 'GET') res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
      else if (path === '/metrics') serveMetrics(this.metrics, res);
      else if (path === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else if (path === '/readyz')
        void runChecks(this.checks).then((body) =>
          res.writeHead(body.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`),
        );
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    this.boundUrl = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    return this.boundUrl;
  }

  /** The bound URL once listening (the real port when asked for 0). */
  get url(): string | undefined {
    return this.boundUrl;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * A ServiceHttp as a Nest provider (Nest calls these hooks on any provider
 * that has them): it listens at module init, before the service waits for
 * its dependencies, so a liveness probe sees the process meanwhile; it
 * closes at module destroy.
 */
export class ServiceHttpProvider extends ServiceHttp {
  constructor(
    metrics: ServiceMetrics,
    checks: HealthChecks,
    private readonly bind: { host: string; port: number },
  ) {
    super(metrics, checks);
  }

  async onModuleInit(): Promise<void> {
    await this.listen(this.bind.host, this.bind.port);
  }

  async onModuleDestroy(): Promise<void> {
    await this.close();
  }
}
