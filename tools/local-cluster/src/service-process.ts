import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

/** One warmpod service run as a child process, its output in a log file. */
export class ServiceProcess {
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logPath: string,
    private readonly launch: { script: string; env: Record<string, string> },
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static spawn(name: string, script: string, env: Record<string, string>, logPath: string): ServiceProcess {
    const fd = openSync(logPath, 'a');
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    return new ServiceProcess(name, child, logPath, { script, env });
  }

  /** The same service started again, as it was first launched. */
  respawn(): ServiceProcess {
    return ServiceProcess.spawn(this.name, this.launch.script, this.launch.env, this.logPath);
  }

  /** Ends the process without letting it clean up: what a crash or a dead machine looks like. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Sends a signal without waiting (e.g. SIGUSR2: an agent leaves the cluster). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  logTail(chars = 2000): string {
    try {
      return readFileSync(this.logPath, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs: number): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  onExit(listener: (code: number | null) => void): void {
    void this.exited.then(listener);
  }
}
