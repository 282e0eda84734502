/**
 * A pod with a slow initialisation, for the checkpoint tests and benchmark:
 * `initSeconds` of "work", then state in memory (TOKEN, in the environment
 * of the serving process) and on disk (/written), served on port 8080 by a
 * CGI script of busybox httpd (the warmpod/http sample image). A cold start
 * makes a new token; a restore brings the checkpointed one back.
 */
export const SLOW_INIT_PORT = 8080;
export const SLOW_INIT_STATE_PATH = '/cgi-bin/state';

export function slowInitCommand(initSeconds: number): string[] {
  const script = [
    `sleep ${initSeconds}`,
    'TOKEN=$(cat /proc/sys/kernel/random/uuid); export TOKEN',
    'cat /proc/sys/kernel/random/uuid > /written',
    'mkdir -p /www/cgi-bin',
    `printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"\\necho "memory=$TOKEN file=$(cat /written)"\\n' > /www/cgi-bin/state`,
    'busybox chmod 755 /www/cgi-bin/state',
    'echo "initialised $TOKEN"',
    `exec httpd -f -p ${SLOW_INIT_PORT} -h /www`,
  ].join('; ');
  return ['sh', '-c', script];
}

/** The state a slow-init pod serves, or undefined when the answer is not its state page. */
export function parseSlowInitState(body: string): { memory: string; file: string } | undefined {
  const m = /memory=(\S+) file=(\S+)/.exec(body);
  return m ? { memory: m[1]!, file: m[2]! } : undefined;
}
