import { messageOf } from '@warmpod/observability';
import { loadGatewayConfig } from './config';
import { createGateway } from './gateway';

async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env);
  const gateway = await createGateway(config);
  // On SIGTERM/SIGINT Nest closes the app: HTTP first, then queues and Redis.
  gateway.app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
}

main().catch((error: unknown) => {
  // The logger may not exist yet (bad config): stderr is the only place left.
  process.stderr.write(`gateway failed to start: ${messageOf(error)}\n`);
  process.exit(1);
});
