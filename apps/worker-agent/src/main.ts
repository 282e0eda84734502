import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AgentModule } from './agent.module';
import { agentConfig } from './config';
import { withKubeNode } from './kube-node';

async function main(): Promise<void> {
  const config = await withKubeNode(agentConfig(process.env), process.env);
  const app = await NestFactory.createApplicationContext(AgentModule.forConfig(config), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
