import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { dropKeys, redisUrl } from '@warmpod/devkit';
import { LocalCluster, type ClusterNodeSpec } from '@warmpod/local-cluster';

const REDIS_URL = redisUrl();

export interface BenchCluster {
  cluster: LocalCluster;
  workDir: string;
  /** The bench tenant's bearer token. */
  token: string;
  /** One gateway call as the bench tenant; a status >= 300 throws with the body. */
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Stops the cluster and removes its work dir and Redis keys. */
  close(): Promise<void>;
}

/** A local cluster of its own (work dir, Redis prefix, token) for one benchmark run. */
export async function startBenchCluster(opts: {
  name: string;
  nodes: ClusterNodeSpec[];
  env?: Record<string, string>;
  logLevel?: string;
}): Promise<BenchCluster> {
  const workDir = mkdtempSync(join(tmpdir(), `warmpod-${opts.name}-bench-`));
  const token = `bench-${randomBytes(8).toString('hex')}`;
  const prefix = `bench${randomBytes(2).toString('hex')}:`;
  const cluster = await LocalCluster.start({
    root: resolve(__dirname, '..', '..', '..'),
    workDir,
    redisUrl: REDIS_URL,
    prefix,
    gatewayPort: 0,
    registryPort: 0,
    tokens: { [token]: 'bench' },
    nodes: opts.nodes,
    logLevel: opts.logLevel ?? 'warn',
    ...(opts.env ? { env: opts.env } : {}),
  });
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${cluster.gatewayUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as T;
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const close = async (): Promise<void> => {
    await cluster.stop();
    rmSync(workDir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL);
    await dropKeys(redis, prefix).finally(() => redis.disconnect());
  };
  return { cluster, workDir, token, call, close };
}
