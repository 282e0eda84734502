import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { schedulerConfig } from './config';
import { SchedulerModule } from './scheduler.module';

async function main(): Promise<void> {
  const config = schedulerConfig(process.env);
  const app = await NestFactory.createApplicationContext(SchedulerModule.forConfig(config), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
