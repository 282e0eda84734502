/**
 * A pod with a slow initialisation, for the checkpoint tests and benchmark:
 * `initSeconds` of "work", then state in memory (TOKEN, in the environment
 * of the serving process) and on disk (/written), served on port 8080 by a
 * CGI script of busybox httpd (the warmpod/http sample image). A cold start
 * makes a new token; a restore brings the checkpointed one back.
 *
 * With `stateMiB`, init also builds that much in-memory state: a busybox awk
 * process holds a string of that size (every page written, so CRIU dumps and
 * restores all of it), and the state page adds `held=` the kB it has resident.
 */
export const SLOW_INIT_PORT = 8080;
export const SLOW_INIT_STATE_PATH = '/cgi-bin/state';

export function slowInitCommand(initSeconds: number, opts: { stateMiB?: number } = {}): string[] {
  const stateMiB = opts.stateMiB ?? 0;
  if (!Number.isInteger(stateMiB) || stateMiB < 0) throw new Error(`stateMiB must be a whole number >= 0, not ${stateMiB}`);
  const bytes = stateMiB * 2 ** 20;
  // The holder writes its pid once the string is built, then waits (its shell replaced by sleep) for ever.
  const holder = `busybox awk 'BEGIN { s = sprintf("%${bytes}s", "x"); system("echo $PPID > /holder.pid; exec sleep 2147483647") }' & `;
  const held = ['while [ ! -s /holder.pid ]; do sleep 0.05; done'];
  // In the CGI script: the holder's resident kB, from "VmRSS:  <kB> kB" split into words.
  const heldPage = stateMiB > 0 ? '\\nset -- $(busybox grep VmRSS /proc/$(cat /holder.pid)/status)' : '';
  const heldField = stateMiB > 0 ? ' held=$2' : '';
  const script = [
    `${stateMiB > 0 ? holder : ''}sleep ${initSeconds}`,
    ...(stateMiB > 0 ? held : []),
    'TOKEN=$(cat /proc/sys/kernel/random/uuid); export TOKEN',
    'cat /proc/sys/kernel/random/uuid > /written',
    'mkdir -p /www/cgi-bin',
    `printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"${heldPage}\\necho "memory=$TOKEN file=$(cat /written)${heldField}"\\n' > /www/cgi-bin/state`,
    'busybox chmod 755 /www/cgi-bin/state',
    'echo "initialised $TOKEN"',
    `exec httpd -f -p ${SLOW_INIT_PORT} -h /www`,
  ].join('; ');
  return ['sh', '-c', script];
}

/** The state a slow-init pod serves, or undefined when the answer is not its state page. */
export function parseSlowInitState(body: string): { memory: string; file: string; heldKiB?: number } | undefined {
  const m = /memory=(\S+) file=(\S+)(?: held=(\d+))?/.exec(body);
  if (!m) return undefined;
  return { memory: m[1]!, file: m[2]!, ...(m[3] === undefined ? {} : { heldKiB: Number(m[3]) }) };
}
