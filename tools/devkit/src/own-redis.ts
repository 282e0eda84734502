import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './local-registry';

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A Redis of a test's own on a fixed loopback port, which the test may stop
 * and start again (an outage seen by the services under test), without
 * touching the shared test Redis. Settings as the services require (noeviction).
 */
export class OwnRedis {
  private server?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), await mkdtemp(join(tmpdir(), 'wp-own-redis-')));
    await redis.resume();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server again on the same port; resolves once it accepts connections. */
  async resume(): Promise<void> {
    if (this.server) return;
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir];
    this.server = spawn('redis-server', [...args, '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    await until(`redis-server on port ${this.port} accepting`, () => accepts(this.port), 10_000);
  }

  /** Stops the server (its data is gone); resolves once it has exited. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What a service's `/readyz` said: its status and each check (scheduler, prepuller, agent listeners). */
export interface Readiness {
  status: number;
  checks: Record<string, boolean>;
}

/** Polls `url/readyz` until `wanted` holds (deadline 15 s); the answer that did. */
export async function readinessUntil(url: string, wanted: (r: Readiness) => boolean, timeoutMs = 15_000): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { checks?: Record<string, boolean> };
    const r = { status: res.status, checks: body.checks ?? {} };
    if (wanted(r)) return r;
    if (Date.now() > deadline) throw new Error(`${url}/readyz stayed ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
