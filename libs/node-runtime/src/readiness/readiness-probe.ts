import { request } from 'node:http';
import { connect } from 'node:net';
import type { CheckpointCondition } from '@warmpod/domain';
import { messageOf, type Logger } from '@warmpod/observability';
import { CommandError, runCommand } from '../command';
import { quietLogger } from '../errors';
import { resolveInRoot } from './resolve-in-root';
import { waitUntilStable, type ProbeOutcome, type StableResult } from './stable-wait';

/**
 * The pod, not one of its processes: its address (every worker listens in
 * the pod's netns), its container (runc exec joins the pod's namespaces) and
 * its merged root. Several worker processes are one service to a probe.
 */
export interface ReadinessTarget {
  podId: string;
  ip: string;
  /** The pod's merged overlay root on the host. */
  rootfsDir: string;
}

export interface ReadinessProbeOptions {
  /** The node's runc root, for exec conditions. */
  runcRoot: string;
  runcPath?: string;
  logger?: Logger;
}

export interface WaitReadyOptions {
  /** Absolute deadline (epoch ms); or `timeoutMs` from now. One of them is required. */
  deadline?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Consecutive successes that count as ready (default 3). */
  successThreshold?: number;
  /** Pause between probes (default 200 ms). */
  intervalMs?: number;
  /** Bound on one probe (default 2000 ms). */
  probeTimeoutMs?: number;
}

/**
 * Checks a pod's readiness condition: http (a 2xx answer), tcp (a connection
 * is accepted), exec (a command run in the container exits 0), file (a path
 * exists under the pod's root). Probes leave no connection open behind them,
 * so a checkpoint taken right after sees no established TCP socket.
 */
export class ReadinessProbe {
  private readonly logger: Logger;

  constructor(private readonly opts: ReadinessProbeOptions) {
    this.logger = opts.logger ?? quietLogger();
  }

  /** Resolves once the condition held `successThreshold` times in a row; rejects with ReadinessTimeoutError at the deadline. */
  async waitUntilReady(target: ReadinessTarget, condition: CheckpointCondition, opts: WaitReadyOptions): Promise<StableResult> {
    const deadline = opts.deadline ?? (opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined);
    if (deadline === undefined) throw new RangeError('waitUntilReady needs a deadline or timeoutMs');
    const probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
    const result = await waitUntilStable((signal) => this.probeOnce(target, condition, probeTimeoutMs, signal), {
      successThreshold: opts.successThreshold ?? 3,
      intervalMs: opts.intervalMs ?? 200,
      deadline,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    this.logger.info({ podId: target.podId, condition: condition.type, ...result }, 'pod ready');
    return result;
  }

  /** One probe; never throws: a failure is an outcome with its reason. */
  async probeOnce(target: ReadinessTarget, condition: CheckpointCondition, timeoutMs = 2000, signal?: AbortSignal): Promise<ProbeOutcome> {
    try {
      switch (condition.type) {
        case 'http':
          return await probeHttp(target.ip, condition.port, condition.path, timeoutMs, signal);
        case 'tcp':
          return await probeTcp(target.ip, condition.port, timeoutMs, signal);
        case 'exec':
          return await this.probeExec(target.podId, condition.command, timeoutMs);
        case 'file':
          return (await resolveInRoot(target.rootfsDir, condition.path)) !== undefined
            ? { ok: true }
            : { ok: false, detail: `${condition.path} does not exist in the pod's root` };
      }
    } catch (error) {
      return { ok: false, detail: messageOf(error) };
    }
  }

  private async probeExec(podId: string, command: readonly string[], timeoutMs: number): Promise<ProbeOutcome> {
    try {
      await runCommand(this.opts.runcPath ?? 'runc', ['--root', this.opts.runcRoot, 'exec', podId, ...command], { timeoutMs });
      return { ok: true };
    } catch (error) {
      if (!(error instanceof CommandError)) return { ok: false, detail: messageOf(error) };
      const said = (error.stderr.trim() || error.stdout.trim()).split('\n').slice(-2).join('; ').slice(0, 300);
      return { ok: false, detail: `${command[0]} exited with ${error.exitCode ?? 'a signal'}${said ? `: ${said}` : ''}` };
    }
  }
}

/** GET with `Connection: close` and no agent: the socket is closed before the outcome is known. */
function probeHttp(ip: string, port: number, path: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let outcome: ProbeOutcome = { ok: false, detail: `http://${ip}:${port}${path}: no answer` };
    const req = request({
      host: ip,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'warmpod-readiness' },
      signal,
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      outcome =
        status >= 200 && status < 300
          ? { ok: true, detail: String(status) }
          : { ok: false, detail: `http://${ip}:${port}${path} answered ${status}` };
      res.resume();
      res.on('end', () => req.destroy());
    });
    req.on('error', (error) => {
      if (!outcome.ok) outcome = { ok: false, detail: `http://${ip}:${port}${path}: ${error.message}` };
    });
    req.on('close', () => {
      clearTimeout(timer);
      resolve(outcome);
    });
    req.end();
  });
}

/** Connects, then resets: the pod's socket ends closed, not half-open in CLOSE_WAIT (which CRIU refuses to dump). */
function probeTcp(ip: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let outcome: ProbeOutcome = { ok: false, detail: `${ip}:${port}: no connection` };
    const socket = connect({ host: ip, port, signal });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      outcome = { ok: true };
      socket.resetAndDestroy();
    });
    socket.on('error', (error) => {
      if (!outcome.ok) outcome = { ok: false, detail: `${ip}:${port}: ${error.message}` };
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}
