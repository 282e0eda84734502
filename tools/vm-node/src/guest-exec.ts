import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmNodeError } from './errors';

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's stdin (otherwise /dev/null). */
  input?: string;
  /** Killed (SIGKILL, exit 137) inside the guest after this long; the call also fails on the host. */
  timeoutMs?: number;
}

export interface ExecResult {
  /** Exit code; 128+N when killed by signal N; 127 when the command was not found. */
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** PATH for guest commands and the workload: the host's userland, as root sees it. */
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** busybox copied into the guest's /run by stage 1: there whatever the host has. */
export const GUEST_BUSYBOX = '/run/vm-node/bin/busybox';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function checkEnv(env: Record<string, string> | undefined): void {
  for (const key of Object.keys(env ?? {})) if (!ENV_NAME.test(key)) throw new VmNodeError(`bad environment variable name "${key}"`);
}

export function envLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
}

/**
 * The host side of EXEC over the control channel: a command's script, stdin, stdout and stderr
 * are files in `<share>/exec/`, the serial line only carries `EXEC <id>` and `DONE <id> <code>`.
 */
export class GuestExec {
  private readonly pending = new Map<number, { resolve: (code: number) => void; reject: (error: Error) => void }>();
  private nextId = 1;

  /** send: puts one line on the control channel; false when it is closed. */
  constructor(
    private readonly execDir: string,
    private readonly send: (line: string) => boolean,
  ) {}

  async run(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
    checkEnv(opts.env);
    const id = this.nextId++;
    const base = join(this.execDir, String(id));
    const timeoutS = opts.timeoutMs ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : 0;
    const script = [
      ...envLines(opts.env ?? {}),
      ...(opts.cwd ? [`cd ${shellQuote(opts.cwd)} || exit 126`] : []),
      `exec ${timeoutS ? `${GUEST_BUSYBOX} timeout -s KILL ${timeoutS} ` : ''}${[cmd, ...args].map(shellQuote).join(' ')}`,
      '',
    ].join('\n');
    await writeFile(`${base}.sh`, script);
    if (opts.input !== undefined) await writeFile(`${base}.in`, opts.input);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const code = await new Promise<number>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        if (!this.send(`EXEC ${id}`)) {
          this.pending.delete(id);
          reject(new VmNodeError('the control channel is closed'));
          return;
        }
        // The guest kills the command at timeoutMs; the margin covers a slow emulated guest.
        const hostTimeout = opts.timeoutMs ? opts.timeoutMs + 15_000 : 10 * 60_000;
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new VmNodeError(`exec ${cmd} got no answer from the guest within ${hostTimeout} ms`));
        }, hostTimeout);
      });
      const [stdout, stderr] = await Promise.all([
        readFile(`${base}.out`, 'utf8').catch(() => ''),
        readFile(`${base}.err`, 'utf8').catch(() => ''),
      ]);
      return { code, stdout, stderr, ms: Date.now() - started };
    } finally {
      clearTimeout(timer);
      await Promise.all(['sh', 'in', 'out', 'err'].map((ext) => rm(`${base}.${ext}`, { force: true })));
    }
  }

  /** The guest's `DONE <id> <code>`. */
  done(id: number, code: number): void {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    waiter.resolve(code);
  }

  /** Fails every exec still waiting (the VM is gone). */
  failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
