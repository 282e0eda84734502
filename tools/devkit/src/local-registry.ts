import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface LocalRegistryOptions {
  /** Holds the registry's config, log and blob storage. */
  storageDir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  startTimeoutMs?: number;
  /** The distribution binary; Debian's package names it docker-registry. */
  binary?: string;
}

const HOST = '127.0.0.1';

/** Asks the kernel for a free loopback port; the registry binds it right after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function registryConfig(storageDir: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(storageDir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${HOST}:${port}`,
    // A fixed secret silences the start-up warning about generated secrets.
    `  secret: ${randomBytes(16).toString('hex')}`,
    '',
  ].join('\n');
}

/** A distribution registry on loopback, owned by the caller: tests and `npm start`. */
export class LocalRegistry {
  private constructor(
    private child: ChildProcess,
    readonly port: number,
    private exited: Promise<void>,
    private readonly opts: LocalRegistryOptions,
  ) {}

  get host(): string {
    return `${HOST}:${this.port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(opts: LocalRegistryOptions): Promise<LocalRegistry> {
    // A picked port can be taken between picking and binding: try a few.
    const attempts = opts.port ? 1 : 3;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        return await LocalRegistry.startOnce(opts, opts.port || (await freePort()));
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  private static async startOnce(opts: LocalRegistryOptions, port: number): Promise<LocalRegistry> {
    await mkdir(join(opts.storageDir, 'data'), { recursive: true });
    const configPath = join(opts.storageDir, 'config.yml');
    const logPath = join(opts.storageDir, 'registry.log');
    await writeFile(configPath, registryConfig(opts.storageDir, port));
    const log = await open(logPath, 'a');
    const child = spawn(opts.binary ?? 'docker-registry', ['serve', configPath], { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    const registry = new LocalRegistry(child, port, exited, opts);

    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (spawnError) throw new Error(`local registry could not be started: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        const tail = (await readFile(logPath, 'utf8').catch(() => '')).slice(-1000);
        throw new Error(`local registry on port ${port} exited during start-up: ${tail}`);
      }
      if (await registry.answers()) return registry;
      if (Date.now() > deadline) {
        await registry.stop();
        throw new Error(`local registry on port ${port} did not answer GET /v2/ in time`);
      }
      // Start-up polling only: the process gives no readiness signal.
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async answers(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * The registry's garbage collection: deleted manifests (checkpoints gone)
   * free their blobs only here. It must not run while anything pushes (a
   * blob uploaded but not yet referenced would be swept), so the registry is
   * stopped, `garbage-collect` runs, and it serves again on the same port;
   * clients see a short outage (agents retry pushes, a fetch falls back).
   * Never with `--delete-untagged`: checkpoint artifacts are pushed by digest
   * without a tag and would all go. Returns the blobs it deleted.
   */
  async garbageCollect(): Promise<{ blobsDeleted: number; ms: number }> {
    const started = Date.now();
    await this.stop();
    const configPath = join(this.opts.storageDir, 'config.yml');
    let output = '';
    try {
      output = await new Promise<string>((resolve, reject) => {
        const gc = spawn(this.opts.binary ?? 'docker-registry', ['garbage-collect', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        gc.stdout.on('data', (b: Buffer) => (text += b.toString()));
        gc.stderr.on('data', (b: Buffer) => (text += b.toString()));
        gc.once('error', reject);
        gc.once('exit', (code) =>
          code === 0 ? resolve(text) : reject(new Error(`registry garbage-collect exited with ${code}: ${text.slice(-1000)}`)),
        );
      });
    } finally {
      // Serving again whatever the collection did: the cluster must not lose its registry.
      const again = await LocalRegistry.startOnce(this.opts, this.port);
      this.child = again.child;
      this.exited = again.exited;
    }
    const blobsDeleted = output.split('\n').filter((line) => /blob eligible for deletion/.test(line)).length;
    return { blobsDeleted, ms: Date.now() - started };
  }

  /** Stops the process this instance started and waits for it to exit. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
