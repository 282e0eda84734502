import { spawn } from 'node:child_process';

export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/**
 * Runs a CLI tool with an argument vector (never through a shell) and returns
 * its stdout; a non-zero exit becomes a ToolError carrying stderr, which is
 * where umoci and skopeo explain themselves.
 */
export function runTool(file: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ToolError(`${file} could not be started: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString().trim();
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new ToolError(`${file} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.slice(-2000)}`));
    });
  });
}
