import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { defaultNodes } from './cluster-options';
import { LocalCluster } from './local-cluster';

/** `npm start`: the local cluster in the foreground until Ctrl-C. */
async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..', '..');
  const env = process.env;
  const token = env['WARMPOD_DEV_TOKEN'] ?? `dev-${randomBytes(12).toString('hex')}`;
  const operatorToken = env['WARMPOD_OPERATOR_TOKEN'] ?? `op-${randomBytes(12).toString('hex')}`;
  const cluster = await LocalCluster.start({
    root,
    workDir: join(root, '.warmpod', 'cluster'),
    redisUrl: env['WARMPOD_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    prefix: env['WARMPOD_PREFIX'] ?? 'wp:',
    gatewayPort: Number(env['GATEWAY_PORT'] ?? 8080),
    registryPort: Number(env['REGISTRY_PORT'] ?? 5000),
    // Blobs of deleted checkpoint artifacts: freed hourly by default (0 turns it off).
    registryGcIntervalMs: Number(env['WARMPOD_REGISTRY_GC_MINUTES'] ?? 60) * 60_000,
    tokens: { [token]: 'dev' },
    operatorToken,
    nodes: defaultNodes(),
    logLevel: env['LOG_LEVEL'] ?? 'info',
    // The gateway's tenant quotas; without a file every tenant gets the built-in defaults.
    ...(env['WARMPOD_QUOTAS_FILE'] ? { env: { WARMPOD_QUOTAS_FILE: resolve(env['WARMPOD_QUOTAS_FILE']) } } : {}),
  });
  const gw = cluster.gatewayUrl;
  const auth = `-H 'Authorization: Bearer ${token}'`;
  console.log(`
warmpod local cluster is up
  gateway   ${gw}   (OpenAPI: ${gw}/docs)
  registry  ${cluster.registryHost}   (sample images: warmpod/hello, warmpod/http, warmpod/sleeper)
  nodes     ${defaultNodes()
    .map((n) => n.id)
    .join(', ')}
  token     ${token}   (tenant "dev": pods, images, pools, checkpoints)
  operator  ${operatorToken}   (operator: cordon/uncordon, reads every tenant's pods, pins, pools, checkpoints)
  quotas    ${env['WARMPOD_QUOTAS_FILE'] ? `from ${env['WARMPOD_QUOTAS_FILE']}` : 'built-in defaults for every tenant (WARMPOD_QUOTAS_FILE sets them)'}; GET ${gw}/v1/quota
  logs      .warmpod/cluster/logs/
  pki       .warmpod/cluster/pki/   (cluster CA: the parts speak mutual TLS to each other)

Run a pod, then read its output:
  curl -s -X POST ${gw}/v1/pods ${auth} -H 'Content-Type: application/json' -d '{"image":"warmpod/hello:latest"}'
  curl -s ${gw}/v1/pods/POD_ID/logs ${auth}
From a job queue (BullMQ; README "From a job queue"): tenant "dev" produces as its own Redis user
  url       ${cluster.producers['dev']?.url ?? '(none)'}
  prefix    ${cluster.producers['dev']?.queuePrefix ?? '(none)'}   (queue "pods": run-pod jobs; queue "control": cancel jobs)
  own       ${cluster.producers['dev']?.ownQueuesPrefix ?? '(none)'}   (your own queues, e.g. a flow's parent)
Cordon a node (operators only):
  curl -s -X POST ${gw}/v1/nodes/node-1/cordon -H 'Authorization: Bearer ${operatorToken}'
Drain a node (it moves or stops its pods, then leaves the cluster; its agent exits):
  curl -s -X POST ${gw}/v1/nodes/node-2/drain -H 'Authorization: Bearer ${operatorToken}'

A service that dies is started again. Ctrl-C stops everything.`);

  let stopping = false;
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\nstopping the local cluster (${why})...`);
    const leftovers = await cluster.stop();
    if (leftovers.length === 0) {
      console.log('stopped; checked: nothing left running.');
      process.exit(0);
    }
    console.log(`stopped, but these are still there:\n${leftovers.map((l) => `  ${l}`).join('\n')}`);
    process.exit(1);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  cluster.onServiceRestart(({ name, code, delayMs, attempt }) => {
    if (!stopping) console.log(`${name} exited with code ${code}; starting it again in ${delayMs} ms (restart ${attempt})`);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
