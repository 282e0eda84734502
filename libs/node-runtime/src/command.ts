import { spawn } from 'node:child_process';

export interface CommandOptions {
  /** Written to the child's stdin (CNI plugins read their config there). */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Working directory (overlay mounts resolve relative lower directories against it). */
  cwd?: string;
  timeoutMs?: number;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const output = (stderr.trim() || stdout.trim()).slice(-1500);
    super(`${command} exited with ${exitCode ?? 'a signal'}${output ? `: ${output}` : ''}`);
  }
}

/** Runs a tool with an argument vector, never through a shell. */
export function runCommand(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(`${file} ${args[0] ?? ''}`.trim(), null, '', e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(`${file} ${args.slice(0, 2).join(' ')}`.trim(), code, stdout, stderr));
    });
    // A child that exits without reading stdin must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
