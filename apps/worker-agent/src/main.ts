import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger } from '@warmpod/observability';
import { CriuKdatCache } from '@warmpod/node-runtime';
import { RegistryClient } from '@warmpod/registry';
import { AgentLifecycle, AgentModule, StartupCancelled } from './agent.module';
import { agentConfig, type AgentConfig } from './config';
import { createNodeRuntime, nodeLeftovers, sweepNode } from './node-sweep';
import { PodSandboxes } from './pod-sandbox';
import { withKubeNode } from './kube-node';

/**
 * The node agent. SIGTERM or SIGINT stops it cleanly at any time: while it
 * starts, start-up is cancelled and what it set up is cleaned up; once
 * started, the Nest shutdown hooks run. SIGTERM is a restart (a DaemonSet
 * upgrade sends it): cluster nodes leave their pods running for the next
 * agent to adopt. Leaving the cluster is asked for explicitly: SIGUSR2, or a
 * drain through the API (a drain-node job); the agent then moves or stops
 * its pods, deregisters the node and exits 0 (1 when the leave failed; the
 * next agent sees the drain mark and finishes it). `--sweep` does not start an agent:
 * it removes everything of the node (what an agent that died left) and
 * prints what is still there, as one JSON line; exit code 2 when anything is.
 */
async function main(): Promise<void> {
  const config = agentConfig(process.env);
  if (process.argv.includes('--sweep')) return sweep(config);
  // In a cluster, the agent's own Node object shapes its labels, capacity and cordon.
  const nodeConfig = await withKubeNode(config);

  const startup = new AbortController();
  let app: INestApplicationContext | undefined;
  let stopping = false;
  let leaveAfterStart = false;
  const leave = (started: INestApplicationContext): void => {
    stopping = true;
    started
      .get(AgentLifecycle)
      .leave()
      .then(
        () => 0,
        (error: unknown) => {
          console.error(`leaving the cluster failed: ${error instanceof Error ? error.message : String(error)}`);
          return 1;
        },
      )
      .then(async (code) => {
        await started.close();
        process.exit(code);
      })
      .catch(() => process.exit(1));
  };
  const onLeave = (): void => {
    if (stopping) return;
    if (!app) leaveAfterStart = true;
    else leave(app);
  };
  process.on('SIGUSR2', onLeave);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    if (!app) return startup.abort(new Error(`${signal} during start-up`));
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    app = await NestFactory.createApplicationContext(AgentModule.forConfig(nodeConfig, startup.signal, onLeave), {
      logger: ['error', 'warn'],
    });
  } catch (error) {
    if (error instanceof StartupCancelled) {
      console.error(error.message);
      process.exit(0);
    }
    throw error;
  }
  // A signal that came as start-up finished.
  if (stopping) {
    await app.close();
    process.exit(0);
  }
  if (leaveAfterStart) leave(app);
}

async function sweep(config: AgentConfig): Promise<void> {
  const logger = createLogger({ service: 'worker-agent-sweep', level: config.logLevel, base: { node: config.nodeId } });
  const registry = new RegistryClient({ insecureRegistries: config.insecureRegistries, timeoutMs: config.registryTimeoutMs });
  const rt = createNodeRuntime(config, registry, logger);
  const sandboxes = new PodSandboxes({ rt, dataDir: config.dataDir, exposeHost: config.exposeHost, logger });
  // A dead agent may have left CRIU's kernel-feature cache bound on the host.
  await new CriuKdatCache({ dir: config.dataDir, criuPath: config.criu.path, logger }).releaseIfOwn();
  const failures = await sweepNode(rt, sandboxes);
  const leftovers = await nodeLeftovers(config, rt);
  process.stdout.write(`${JSON.stringify({ node: config.nodeId, failures, leftovers })}\n`);
  process.exitCode = leftovers.length > 0 ? 2 : 0;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
