import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { freePort } from '@warmpod/devkit';
import { ServiceProcess } from '@warmpod/local-cluster';

const SCHEDULER_MAIN = resolve(__dirname, '..', '..', '..', 'apps', 'scheduler', 'dist', 'main.js');
const STOP_GRACE_MS = 15_000;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

export interface ReplicaSettings {
  redisUrl: string;
  prefix: string;
  logDir: string;
  /** Jobs each replica runs at once (SCHEDULER_CONCURRENCY). */
  concurrency: number;
  /** Long enough that simulated nodes need not heartbeat during the run. */
  readyWindowMs: number;
  heartbeatMs: number;
  logLevel: string;
  /** Added to each replica's environment (e.g. a `--require` hook while profiling). */
  env?: Record<string, string>;
}

/**
 * N real scheduler processes (apps/scheduler/dist/main.js) on one Redis
 * prefix, each serving the node registry on its own loopback gRPC port.
 */
export class SchedulerReplicas {
  private constructor(
    private readonly processes: ServiceProcess[],
    readonly grpcPorts: number[],
  ) {}

  static async start(count: number, s: ReplicaSettings): Promise<SchedulerReplicas> {
    const processes: ServiceProcess[] = [];
    const ports: number[] = [];
    const replicas = new SchedulerReplicas(processes, ports);
    try {
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        ports.push(port);
        processes.push(
          ServiceProcess.spawn(
            `scheduler-${i + 1}`,
            SCHEDULER_MAIN,
            {
              WARMPOD_REDIS_URL: s.redisUrl,
              WARMPOD_PREFIX: s.prefix,
              NODE_READY_WINDOW_MS: String(s.readyWindowMs),
              HEARTBEAT_MS: String(s.heartbeatMs),
              SCHEDULER_CONCURRENCY: String(s.concurrency),
              SCHEDULER_GRPC_HOST: '127.0.0.1',
              SCHEDULER_GRPC_PORT: String(port),
              LOG_LEVEL: s.logLevel,
              ...s.env,
            },
            join(s.logDir, `scheduler-${i + 1}.log`),
          ),
        );
      }
      await Promise.all(processes.map((p, i) => replicas.waitListening(p, ports[i]!)));
      return replicas;
    } catch (error) {
      await replicas.stop();
      throw error;
    }
  }

  /** Throws (with the log's end) if a replica has exited. */
  assertRunning(): void {
    for (const p of this.processes) {
      if (!p.running) throw new Error(`${p.name} exited during the benchmark; its log ends:\n${p.logTail()}`);
    }
  }

  /** CPU seconds (user + system) each replica has used so far. */
  cpuSeconds(): number[] {
    return this.processes.map((p) => (p.pid === undefined ? 0 : processCpuSeconds(p.pid)));
  }

  /** SIGTERM (the scheduler closes its registry, worker and connections), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(STOP_GRACE_MS)));
  }

  private async waitListening(p: ServiceProcess, port: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await accepts(port))) {
      if (!p.running) throw new Error(`${p.name} exited at boot; its log ends:\n${p.logTail()}`);
      if (Date.now() > deadline) throw new Error(`${p.name} did not open its gRPC port within 30 s; its log ends:\n${p.logTail()}`);
      await sleep(100);
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** utime + stime of a process, from /proc (Linux, where warmpod runs). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return 0;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
