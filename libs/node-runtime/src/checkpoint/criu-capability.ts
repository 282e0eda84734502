import { release, tmpdir } from 'node:os';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from '../command';
import { quietLogger } from '../errors';
import { bootId, CriuCapabilityCache } from './criu-capability-cache';
import { criuErrors } from './criu-log';
import type { CriuMode } from './criu-mode';
import { DEFAULT_CRIU_NETWORK_LOCK, type CriuNetworkLock } from './criu-network-lock';
import { probeDumpRestore, type CriuProbeResult } from './criu-probe';

export interface CriuCapabilityResult {
  ok: boolean;
  /** `criu --version`, when criu runs at all. */
  version?: string;
  /** How this node runs CRIU (measured); set when ok. */
  mode?: CriuMode;
  /** How CRIU locks a pod's network on this node (measured: nftables where it works); set when ok. */
  networkLock?: CriuNetworkLock;
  /** Why this node cannot checkpoint; absent when ok. At most 1000 characters (the registry takes 1024). */
  reason?: string;
  kernel: string;
  /** What measuring cost, and whether the mode came from the cache instead. */
  measuredMs: number;
  cached: boolean;
}

export interface CriuCapabilityOptions {
  /** The criu binary (or wrapper) this node uses; default `criu` on PATH. */
  criuPath?: string;
  /** Defaults to this machine's `uname -r`. */
  kernel?: string;
  /** Deadline of `criu check` (seconds on a slow or emulated machine); default 60 s. */
  timeoutMs?: number;
  /** Deadline of each probe dump and restore: where breakpoints do not fire, a dump hangs until it. */
  probeTimeoutMs?: number;
  /** Where the probe's temporary directory is made; default the system's temp dir. */
  workDir?: string;
  /** A file keeping the measured mode for this boot, kernel and CRIU; none: measure every time. */
  cacheFile?: string;
  logger?: Logger;
}

const REASON_MAX = 1000;
const MODES: readonly CriuMode[] = ['breakpoints', 'no-breakpoints'];

/**
 * Whether this node can checkpoint and restore, and how: measured with
 * `criu check` and a real dump and restore of a probe process, first with
 * hardware breakpoints (CRIU's default), then with CRIU_FAULT=130, rather
 * than configured.
 */
export class CriuCapability {
  static detect(opts: CriuCapabilityOptions = {}): Promise<CriuCapabilityResult> {
    return new CriuCapability(opts).detect();
  }

  constructor(private readonly opts: CriuCapabilityOptions = {}) {}

  async detect(): Promise<CriuCapabilityResult> {
    const started = Date.now();
    const criu = this.opts.criuPath ?? 'criu';
    const kernel = this.opts.kernel ?? release();
    const logger = this.opts.logger ?? quietLogger();
    const result = (r: Omit<CriuCapabilityResult, 'kernel' | 'measuredMs' | 'cached'>, cached = false): CriuCapabilityResult => ({
      ...r,
      ...(r.reason === undefined ? {} : { reason: r.reason.slice(0, REASON_MAX) }),
      kernel,
      measuredMs: Date.now() - started,
      cached,
    });
    let version: string;
    try {
      const { stdout } = await runCommand(criu, ['--version'], { timeoutMs: 10_000 });
      version = /Version:\s*(\S+)/.exec(stdout)?.[1] ?? 'unknown';
    } catch (error) {
      const missing = error instanceof CommandError && error.exitCode === null && /ENOENT/.test(error.stderr);
      const reason = missing ? `criu is not installed (${criu} not found)` : `criu --version failed: ${messageOf(error)}`;
      logger.warn({ reason }, 'node cannot checkpoint');
      return result({ ok: false, reason });
    }
    const cache = this.opts.cacheFile === undefined ? undefined : new CriuCapabilityCache(this.opts.cacheFile);
    const key = { bootId: await bootId(), kernel, criuPath: criu, criuVersion: version };
    const cached = await cache?.get(key);
    if (cached !== undefined) {
      logger.info({ version, kernel, ...cached }, 'criu mode measured earlier in this boot: node can checkpoint');
      return result({ ok: true, version, ...cached }, true);
    }
    try {
      await runCommand(criu, ['check'], { timeoutMs: this.opts.timeoutMs ?? 60_000 });
    } catch (error) {
      const output = error instanceof CommandError ? `${error.stdout}\n${error.stderr}` : messageOf(error);
      const reason = explainCriuCheckFailure(output, version, kernel);
      logger.warn({ version, kernel, reason }, 'criu check failed: node cannot checkpoint');
      return result({ ok: false, version, reason });
    }
    const failures: string[] = [];
    for (const mode of MODES) {
      const probe = await probeDumpRestore({
        criuPath: criu,
        mode,
        workDir: this.opts.workDir ?? tmpdir(),
        timeoutMs: this.opts.probeTimeoutMs ?? 10_000,
      });
      if (probe.ok) {
        const networkLock = await this.networkLock(criu, mode, logger);
        await cache
          ?.put(key, { mode, networkLock })
          .catch((e: unknown) => logger.warn({ err: messageOf(e) }, 'could not cache the criu mode'));
        const measured = result({ ok: true, version, mode, networkLock });
        logger.info(
          { version, kernel, mode, networkLock, ms: measured.measuredMs, dumpMs: probe.dumpMs, restoreMs: probe.restoreMs },
          'criu works: node can checkpoint',
        );
        return measured;
      }
      failures.push(describeProbeFailure(mode, probe));
      logger.warn({ version, mode, failure: failures.at(-1) }, 'criu probe failed');
    }
    const reason = `criu check passed but a dump and restore of a probe process failed: ${failures.join('; ')}`;
    logger.warn({ version, kernel, reason }, 'node cannot checkpoint');
    return result({ ok: false, version, reason });
  }

  /** nftables when a probe in a netns of its own dumps and restores with it, else CRIU's default (iptables). */
  private async networkLock(criuPath: string, mode: CriuMode, logger: Logger): Promise<CriuNetworkLock> {
    const probe = await probeDumpRestore({
      criuPath,
      mode,
      workDir: this.opts.workDir ?? tmpdir(),
      timeoutMs: this.opts.probeTimeoutMs ?? 10_000,
      networkLock: 'nftables',
    });
    if (probe.ok) return 'nftables';
    logger.warn(
      { mode, failure: `${probe.step} ${probe.hung ? 'hung' : 'failed'}: ${probe.reason}` },
      `criu cannot lock the network with nftables here: checkpoints lock it with ${DEFAULT_CRIU_NETWORK_LOCK}`,
    );
    return DEFAULT_CRIU_NETWORK_LOCK;
  }
}

function describeProbeFailure(mode: CriuMode, probe: Exclude<CriuProbeResult, { ok: true }>): string {
  const how = mode === 'breakpoints' ? 'with hardware breakpoints' : 'with CRIU_FAULT=130 (no breakpoints)';
  const what = probe.hung ? `${probe.step} hung` : `${probe.step} failed`;
  return `${how}: ${what}: ${probe.reason}`;
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
