import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface LogLine {
  time: string;
  msg: string;
  node: string;
  digest: string;
  ms?: number;
  phasesMs?: { budget: number; pull: number; report: number };
}

/** A service's JSON log line with a message about one node and digest; undefined for anything else. */
function asLogLine(value: unknown): LogLine | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.time !== 'string' || typeof v.msg !== 'string' || typeof v.node !== 'string' || typeof v.digest !== 'string')
    return undefined;
  const p = v.phasesMs as Record<string, unknown> | undefined;
  const phases =
    p && typeof p.budget === 'number' && typeof p.pull === 'number' && typeof p.report === 'number'
      ? { budget: p.budget, pull: p.pull, report: p.report }
      : undefined;
  return {
    time: v.time,
    msg: v.msg,
    node: v.node,
    digest: v.digest,
    ...(typeof v.ms === 'number' ? { ms: v.ms } : {}),
    ...(phases ? { phasesMs: phases } : {}),
  };
}

async function logLines(path: string): Promise<LogLine[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => asLogLine(JSON.parse(l)) ?? []);
}

/**
 * One pin of `digest`, from the services' logs, in ms from the request
 * (`sentAt`): when the prepuller dispatched each node's pull, when the
 * agent's job started and ended (budget room, fetch and unpack, reporting
 * it ready), and when the bench saw every node ready (`readyAt`).
 */
export async function pinTimeline(
  logDir: string,
  digest: string,
  sentAt: number,
  readyAt: number,
  nodes: readonly string[],
): Promise<string[]> {
  const at = (time: string): string => `+${Date.parse(time) - sentAt} ms`;
  const sends = new Map<string, string>();
  for (const line of await logLines(join(logDir, 'prepuller.log'))) {
    if (line.msg === 'pull dispatched' && line.digest === digest) sends.set(line.node, line.time);
  }
  const out: string[] = [];
  for (const node of nodes) {
    const done = (await logLines(join(logDir, `${node}.log`))).find((l) => l.msg === 'image pulled ahead of use' && l.digest === digest);
    const send = sends.get(node);
    if (!done || done.ms === undefined) {
      out.push(`${node}: dispatched ${send ? at(send) : '-'}; no pull logged`);
      continue;
    }
    const start = new Date(Date.parse(done.time) - done.ms).toISOString();
    const phases = done.phasesMs
      ? ` (budget ${done.phasesMs.budget}, fetch + unpack ${done.phasesMs.pull}, report ${done.phasesMs.report} ms)`
      : '';
    out.push(`${node}: dispatched ${send ? at(send) : '-'}, job ${at(start)} -> ${at(done.time)}${phases}`);
  }
  out.push(`every node ready on GET /v1/images/{id}: +${readyAt - sentAt} ms`);
  return out;
}
