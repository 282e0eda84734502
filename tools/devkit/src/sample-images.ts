import { buildImage } from './image-builder';

export interface SampleImageDigests {
  /** `warmpod/hello:latest`: prints a greeting (and $GREETING when set), exits 0. */
  hello: string;
  /** `warmpod/http:latest`: busybox httpd on port 8080 serving /www/index.html. */
  http: string;
  /** `warmpod/sleeper:latest`: sleeps for an hour. */
  sleeper: string;
}

export const SAMPLE_REPOSITORIES = {
  hello: 'warmpod/hello',
  http: 'warmpod/http',
  sleeper: 'warmpod/sleeper',
} as const;

export const HTTP_SAMPLE_BODY = 'warmpod http sample';

/** Builds and pushes the images the local cluster and the tests start pods from. */
export async function sampleImages(registryHost: string, workDir: string): Promise<SampleImageDigests> {
  const common = { registryHost, workDir, tag: 'latest' };
  const hello = await buildImage({
    ...common,
    name: SAMPLE_REPOSITORIES.hello,
    cmd: ['sh', '-c', 'echo hello from warmpod; if [ -n "$GREETING" ]; then echo "$GREETING"; fi'],
  });
  const http = await buildImage({
    ...common,
    name: SAMPLE_REPOSITORIES.http,
    cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    files: { 'www/index.html': `${HTTP_SAMPLE_BODY}\n` },
  });
  const sleeper = await buildImage({ ...common, name: SAMPLE_REPOSITORIES.sleeper, cmd: ['sleep', '3600'] });
  return { hello, http, sleeper };
}
