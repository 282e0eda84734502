import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { prepullerConfig } from './config';
import { PrepullerModule } from './prepuller.module';

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(PrepullerModule.forConfig(prepullerConfig(process.env)), {
    logger: ['error', 'warn'],
  });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
