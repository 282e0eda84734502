import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './local-registry';

export interface RedisServerOptions {
  /** Where its append-only file lives; a restart reads it back from here. Absent: a temporary folder, removed by `close`. */
  dir?: string;
  /** 0 or absent: a free loopback port. */
  port?: number;
  /** Settings replacing the defaults below (e.g. another maxmemory-policy). */
  settings?: Record<string, string>;
}

/**
 * A redis-server of a test's own, set up as scripts/bootstrap.sh's
 * ensure_redis sets up the one `npm start` uses: append-only file fsynced
 * every second, no RDB snapshots, no eviction.
 */
export class RedisServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly ownDir: string | undefined,
  ) {}

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const port = opts.port || (await freePort());
    const ownDir = opts.dir === undefined ? await mkdtemp(join(tmpdir(), 'wp-redis-')) : undefined;
    const settings = {
      bind: '127.0.0.1',
      port: String(port),
      dir: opts.dir ?? ownDir!,
      save: '',
      appendonly: 'yes',
      appendfsync: 'everysec',
      'maxmemory-policy': 'noeviction',
      // Where ACL SAVE keeps users: ACL users survive a restart only through this file.
      aclfile: join(opts.dir ?? ownDir!, 'users.acl'),
      ...opts.settings,
    };
    // Redis refuses to start with an aclfile that does not exist.
    if (settings.aclfile) await appendFile(settings.aclfile, '');
    const server = new RedisServer(
      port,
      Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]),
      ownDir,
    );
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGTERM (Redis flushes its append-only file and exits), then waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await this.exited;
  }

  /** Starts it again (same port and directory) after a `stop`; nothing when it runs. */
  async resume(): Promise<void> {
    if (!this.child) await this.launch();
  }

  /** Stops it and removes the folder it made for itself. */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownDir) await rm(this.ownDir, { recursive: true, force: true });
  }

  /** Stops it, then starts it again on the same port and directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  private async launch(): Promise<void> {
    const child = spawn('redis-server', this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not start: ${stderr.trim() || 'no answer to PING'}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** One PING over a plain socket: true when Redis answers PONG, or NOAUTH (its default user is off: it serves, to users that log in); not LOADING. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString('utf8'))));
  });
}
