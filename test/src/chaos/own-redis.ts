import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '@warmpod/devkit';

/**
 * A Redis of the chaos run's own, on a free loopback port, set up as
 * production asks (AOF with everysec, noeviction), so it can be restarted
 * under load without touching the Redis other tests share.
 */
export class OwnRedis {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), await mkdtemp(join(tmpdir(), 'warmpod-chaos-redis-')));
    await redis.launch();
    return redis;
  }

  /** A clean restart (SIGTERM: Redis writes its AOF out, then exits), then the same port and data again. */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, '--save', ''];
    const durability = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'];
    this.child = spawn('redis-server', [...args, ...durability], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      const up = await probe
        .connect()
        .then(() => probe.ping())
        .then(
          (pong) => pong === 'PONG',
          () => false,
        );
      probe.disconnect();
      if (up) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async shutdown(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
