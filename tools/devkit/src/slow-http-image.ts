import { buildImage } from './image-builder';

/** What a slow-http image serves at `/` once it listens. */
export const SLOW_HTTP_BODY = 'warmpod slow http';
export const SLOW_HTTP_PORT = 8080;

export interface SlowHttpImageOptions {
  registryHost: string;
  /** Repository, e.g. `e2e/slow-http`. */
  name: string;
  tag?: string;
  workDir: string;
  /** Seconds of "initialisation" before the port opens; 0: it listens at once. */
  initSeconds: number;
}

/**
 * An HTTP image that initialises before it listens, as an application
 * server loading its code does (busybox httpd on 8080 after `initSeconds`),
 * built and pushed to the local registry; returns its digest. A SIGTERM
 * during the init ends it at once.
 */
export function buildSlowHttpImage(opts: SlowHttpImageOptions): Promise<string> {
  const init = opts.initSeconds > 0 ? `trap 'exit 0' TERM; sleep ${opts.initSeconds} & wait; ` : '';
  return buildImage({
    registryHost: opts.registryHost,
    name: opts.name,
    tag: opts.tag ?? 'latest',
    workDir: opts.workDir,
    cmd: ['sh', '-c', `${init}exec httpd -f -p ${SLOW_HTTP_PORT} -h /www`],
    files: { 'www/index.html': `${SLOW_HTTP_BODY}\n` },
  });
}
