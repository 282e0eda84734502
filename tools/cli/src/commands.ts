import { z } from 'zod';
import { checkpointSchema, itemsOf, nodeSchema, pinSchema, podSchema, poolSchema, type Pin, type Pod } from './api-schemas';
import { CliError, EXIT, type WarmpodClient } from './client';
import { readSseEvents } from '@warmpod/client/sse';

/** Where a command writes: lines for people, or one JSON document per answer (`--output json`). */
export interface Output {
  json: boolean;
  line(text: string): void;
}

const ENDED = ['Succeeded', 'Failed', 'Stopped', 'Lost'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function table(out: Output, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    out.line(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

function podRows(pods: Pod[]): string[][] {
  return [
    ['ID', 'PHASE', 'MODE', 'NODE', 'IMAGE'],
    ...pods.map((p) => [p.id, p.phase, p.startMode ?? '', p.node ?? '', `${p.image.requested}@${shortDigest(p.image.digest)}`]),
  ];
}

export interface RunOptions {
  image: string;
  ports: number[];
  env: Record<string, string>;
  wait: boolean;
  timeoutMs: number;
}

/** `run IMAGE`: admits a pod; with --wait, follows it until Running (exit 0) or ended (exit 5). */
export async function run(client: WarmpodClient, out: Output, o: RunOptions): Promise<number> {
  const body = { image: o.image, ...(o.ports.length ? { ports: o.ports } : {}), ...(Object.keys(o.env).length ? { env: o.env } : {}) };
  let pod = await client.json('POST', '/v1/pods', podSchema, body);
  if (o.wait) {
    const deadline = Date.now() + o.timeoutMs;
    while (pod.phase !== 'Running' && !ENDED.includes(pod.phase)) {
      if (Date.now() > deadline) throw new CliError(EXIT.apiError, `warmpod: pod ${pod.id} still ${pod.phase} after ${o.timeoutMs} ms`);
      await sleep(250);
      pod = await client.json('GET', `/v1/pods/${pod.id}`, podSchema);
    }
  }
  if (out.json) out.line(JSON.stringify(pod));
  else {
    out.line(`${pod.id} ${pod.phase}${pod.startMode ? ` (${pod.startMode})` : ''}${pod.node ? ` on ${pod.node}` : ''}`);
    for (const e of pod.endpoints ?? []) out.line(`  port ${e.containerPort} -> ${e.address}`);
    if (pod.error ?? pod.message) out.line(`  ${pod.error ?? pod.message}`);
  }
  return o.wait && pod.phase !== 'Running' ? EXIT.podFailed : EXIT.ok;
}

export async function ps(client: WarmpodClient, out: Output): Promise<number> {
  const { items } = await client.json('GET', '/v1/pods', itemsOf(podSchema));
  if (out.json) out.line(JSON.stringify(items));
  else table(out, podRows(items));
  return EXIT.ok;
}

export async function get(client: WarmpodClient, out: Output, id: string): Promise<number> {
  const pod = await client.json('GET', `/v1/pods/${encodeURIComponent(id)}`, podSchema);
  if (out.json) out.line(JSON.stringify(pod));
  else table(out, podRows([pod]));
  return EXIT.ok;
}

export async function rm(client: WarmpodClient, out: Output, id: string): Promise<number> {
  const pod = await client.json('DELETE', `/v1/pods/${encodeURIComponent(id)}`, podSchema);
  out.line(out.json ? JSON.stringify(pod) : `${pod.id} ${pod.phase}${pod.phase === 'Stopped' ? '' : ' (stopping)'}`);
  return EXIT.ok;
}

/** `logs ID [-f]`: the last lines; with -f, new lines until the pod has ended. */
export async function logs(client: WarmpodClient, out: Output, id: string, follow: boolean): Promise<number> {
  const path = `/v1/pods/${encodeURIComponent(id)}/logs?tail=10000`;
  let printed = 0;
  for (;;) {
    const lines = (await client.text(path)).split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
    // The tail is a window: when it slid past what was printed, print what is new in it.
    const start = lines.length >= printed ? printed : 0;
    for (const l of lines.slice(start)) out.line(l);
    printed = lines.length;
    if (!follow) return EXIT.ok;
    const pod = await client.json('GET', `/v1/pods/${encodeURIComponent(id)}`, podSchema);
    if (ENDED.includes(pod.phase)) return EXIT.ok;
    await sleep(500);
  }
}

export async function nodes(client: WarmpodClient, out: Output): Promise<number> {
  const { items } = await client.json('GET', '/v1/nodes', itemsOf(nodeSchema));
  if (out.json) out.line(JSON.stringify(items));
  else
    table(out, [
      ['ID', 'HEALTH', 'CPU', 'MEMORY MiB', 'GPU', 'IMAGES', 'PODS'],
      ...items.map((n) => [
        `${n.id}${n.cordoned ? ' (cordoned)' : ''}`,
        n.health,
        `${n.allocated.cpu}/${n.capacity.cpu}`,
        `${n.allocated.memoryMiB}/${n.capacity.memoryMiB}`,
        `${n.allocated.gpu}/${n.capacity.gpu}`,
        String(n.cachedDigests.length),
        String(n.runningPods.length),
      ]),
    ]);
  return EXIT.ok;
}

function bar(pin: Pin['nodes'][number]): string {
  const width = 20;
  const fraction =
    pin.state === 'ready' ? 1 : pin.state === 'pulling' && pin.bytesTotal ? Math.min(1, (pin.bytesDone ?? 0) / pin.bytesTotal) : 0;
  const filled = Math.round(fraction * width);
  const detail = pin.state === 'failed' ? ` ${pin.reason ?? ''}` : pin.state === 'pulling' ? ` ${Math.round(fraction * 100)}%` : '';
  return `${pin.node.padEnd(16)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pin.state}${detail}`;
}

/** `images warm IMAGE`: pins it, then shows each target node's progress until all are ready or failed. */
export async function warm(client: WarmpodClient, out: Output, image: string, timeoutMs: number): Promise<number> {
  let pin = await client.json('POST', '/v1/images', pinSchema, { image });
  const deadline = Date.now() + timeoutMs;
  const settled = (p: Pin) => p.nodes.length > 0 && p.nodes.every((n) => n.state === 'ready' || n.state === 'failed');
  let shown = '';
  for (;;) {
    const view = pin.nodes.map(bar).join('\n');
    if (!out.json && view !== shown) {
      out.line(view === '' ? `${pin.reference}@${shortDigest(pin.digest)}: no target node yet` : view);
      shown = view;
    }
    if (settled(pin) || Date.now() > deadline) break;
    await sleep(500);
    pin = await client.json('GET', `/v1/images/${encodeURIComponent(pin.id)}`, pinSchema);
  }
  if (out.json) out.line(JSON.stringify(pin));
  if (!settled(pin)) throw new CliError(EXIT.apiError, `warmpod: ${pin.reference} not warm on every node after ${timeoutMs} ms`);
  return pin.nodes.some((n) => n.state === 'failed') ? EXIT.apiError : EXIT.ok;
}

export async function pools(client: WarmpodClient, out: Output): Promise<number> {
  const { items } = await client.json('GET', '/v1/pools', itemsOf(poolSchema));
  if (out.json) out.line(JSON.stringify(items));
  else
    table(out, [
      ['NAME', 'STATE', 'READY', 'IMAGE'],
      ...items.map((p) => [p.name, p.state, `${p.ready}/${p.size}`, `${p.image.requested}@${shortDigest(p.image.digest)}`]),
    ]);
  return EXIT.ok;
}

export async function checkpoints(client: WarmpodClient, out: Output): Promise<number> {
  const { items } = await client.json('GET', '/v1/checkpoints', itemsOf(checkpointSchema));
  if (out.json) out.line(JSON.stringify(items));
  else
    table(out, [
      ['ID', 'STATE', 'POD', 'NODE', 'BYTES', 'CREATED'],
      ...items.map((c) => [c.id, c.state, c.pod, c.node, String(c.sizeBytes), c.createdAt]),
    ]);
  return EXIT.ok;
}

const eventData = z.looseObject({ kind: z.string(), resource: z.string() });

/** An event's data as JSON, or its text when it is not JSON (printed as is rather than ending the follow). */
function dataOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** `events [POD] [--since ID]`: follows the event stream (the tenant's, or one pod's) until interrupted. */
export async function events(client: WarmpodClient, out: Output, podId: string | undefined, since?: string): Promise<number> {
  const path = podId ? `/v1/pods/${encodeURIComponent(podId)}/events` : '/v1/events';
  const headers: Record<string, string> = { accept: 'text/event-stream', ...(since ? { 'last-event-id': since } : {}) };
  const res = await client.send('GET', path, undefined, headers, true);
  if (!res.ok || !res.body) throw await client.failure(res);
  for await (const event of readSseEvents(res.body)) {
    if (out.json) {
      out.line(JSON.stringify({ id: event.id, event: event.event, data: dataOf(event.data) }));
      continue;
    }
    const parsed = eventData.safeParse(dataOf(event.data));
    if (!parsed.success) out.line(`${event.event} ${event.data}`);
    else {
      const { kind, resource, ...rest } = parsed.data;
      const fields = Object.entries(rest)
        .filter(([k]) => k !== 'tenant')
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.line(`${event.id ?? ''} ${kind} ${resource} ${fields}`.trim());
    }
  }
  return EXIT.ok;
}
