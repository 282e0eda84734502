import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * Serves the cluster page at /ui/ (and sends / there). The files are public;
 * everything they show comes from the API with the token the page asks for.
 */
export async function installClusterPage(app: NestFastifyApplication, root: string): Promise<void> {
  await app.register(fastifyStatic, { root, prefix: '/ui/', index: 'index.html', cacheControl: false });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get('/', (_request, reply) => reply.redirect('/ui/'));
  fastify.get('/ui', (_request, reply) => reply.redirect('/ui/'));
}
