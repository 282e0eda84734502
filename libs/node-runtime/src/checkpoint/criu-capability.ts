import { release } from 'node:os';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from '../command';
import { quietLogger } from '../errors';
import { criuErrors } from './criu-log';

export interface CriuCapabilityResult {
  ok: boolean;
  /** `criu --version`, when criu runs at all. */
  version?: string;
  /** Why this node cannot checkpoint; absent when ok. At most 1000 characters (the registry takes 1024). */
  reason?: string;
  kernel: string;
}

export interface CriuCapabilityOptions {
  criuPath?: string;
  /** Defaults to this machine's `uname -r`. */
  kernel?: string;
  /** `criu check` takes ~3 s in the TCG VM node. */
  timeoutMs?: number;
  logger?: Logger;
}

const REASON_MAX = 1000;

/** Whether this node can checkpoint and restore, measured with `criu check` rather than configured. */
export class CriuCapability {
  static detect(opts: CriuCapabilityOptions = {}): Promise<CriuCapabilityResult> {
    return new CriuCapability(opts).detect();
  }

  constructor(private readonly opts: CriuCapabilityOptions = {}) {}

  async detect(): Promise<CriuCapabilityResult> {
    const criu = this.opts.criuPath ?? 'criu';
    const kernel = this.opts.kernel ?? release();
    const logger = this.opts.logger ?? quietLogger();
    let version: string;
    try {
      const { stdout } = await runCommand(criu, ['--version'], { timeoutMs: 10_000 });
      version = /Version:\s*(\S+)/.exec(stdout)?.[1] ?? 'unknown';
    } catch (error) {
      const missing = error instanceof CommandError && error.exitCode === null && /ENOENT/.test(error.stderr);
      const reason = missing ? `criu is not installed (${criu} not found)` : `criu --version failed: ${messageOf(error)}`;
      logger.warn({ reason }, 'node cannot checkpoint');
      return { ok: false, reason: reason.slice(0, REASON_MAX), kernel };
    }
    try {
      await runCommand(criu, ['check'], { timeoutMs: this.opts.timeoutMs ?? 60_000 });
      logger.info({ version, kernel }, 'criu check passed: node can checkpoint');
      return { ok: true, version, kernel };
    } catch (error) {
      const output = error instanceof CommandError ? `${error.stdout}\n${error.stderr}` : messageOf(error);
      const reason = explainCriuCheckFailure(output, version, kernel).slice(0, REASON_MAX);
      logger.warn({ version, kernel, reason }, 'criu check failed: node cannot checkpoint');
      return { ok: false, version, reason, kernel };
    }
  }
}

/** Leading numeric parts of a version (`6.18.44-fc` -> [6, 18, 44]). */
function versionParts(text: string): number[] {
  return (/^\d+(?:\.\d+)*/.exec(text.trim())?.[0] ?? '').split('.').filter(Boolean).map(Number);
}

function atLeast(version: string, min: readonly number[]): boolean {
  const parts = versionParts(version);
  for (let i = 0; i < min.length; i++) {
    const have = parts[i] ?? 0;
    if (have !== min[i]) return have > min[i]!;
  }
  return true;
}

const VDSO_BOUNDS = /vdso: Unexpected rt vDSO area bounds/i;

/**
 * Turns `criu check` output into a reason a person can act on. The known
 * case: since Linux 6.13 `[vvar]`, `[vvar_vclock]` and `[vdso]` are mapped
 * separately and CRIU before 4.0 refuses that layout.
 */
export function explainCriuCheckFailure(output: string, version: string, kernel: string): string {
  const errors = criuErrors(output);
  const detail = errors.length > 0 ? errors.join('; ') : output.trim().split('\n').slice(-3).join('; ') || 'no output';
  if (VDSO_BOUNDS.test(output) && atLeast(kernel, [6, 13]) && !atLeast(version, [4])) {
    return (
      `vDSO layout unsupported: kernel ${kernel} (>= 6.13) maps [vvar], [vvar_vclock] and [vdso] separately, ` +
      `which CRIU ${version} (< 4) does not understand; CRIU >= 4 or a kernel < 6.13 is needed (criu check: ${detail})`
    );
  }
  return `criu check failed: ${detail}`;
}
