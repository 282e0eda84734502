import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingMessage['headers'];
  body?: unknown;
}

interface StoredDaemonSet {
  manifest: Record<string, unknown> & { metadata: { name: string; generation?: number } };
  status?: { desiredNumberScheduled: number; numberReady: number; observedGeneration: number };
}

const DS_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/daemonsets(?:\/([^/?]+))?(?:\?.*)?$/;

/**
 * A stand-in for the Kubernetes API server's DaemonSet endpoints, on
 * loopback: list, create (409 on a duplicate name), delete (404 when
 * absent). Records every request exactly as the client library sent it.
 * There is no real API server on these machines; this checks the request
 * shapes, not a cluster's behaviour.
 */
export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly daemonSets = new Map<string, StoredDaemonSet>();
  /** Names that a POST reports as existing though list does not show them (a racing replica). */
  readonly hiddenConflicts = new Set<string>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  names(): string[] {
    return [...this.daemonSets.keys()].sort();
  }

  /** Sets what the DaemonSet controller would report. */
  setStatus(name: string, desired: number, ready: number): void {
    const ds = this.daemonSets.get(name);
    if (!ds) throw new Error(`no DaemonSet ${name}`);
    ds.status = { desiredNumberScheduled: desired, numberReady: ready, observedGeneration: ds.manifest.metadata.generation ?? 1 };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? (JSON.parse(raw) as unknown) : undefined;
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(body !== undefined ? { body } : {}) });
    const match = DS_PATH.exec(req.url ?? '');
    if (!match) return send(res, 404, status(404, 'NotFound', 'no such path'));
    const name = match[2] ? decodeURIComponent(match[2]) : undefined;
    if (req.method === 'GET' && !name) {
      const items = [...this.daemonSets.values()].map((ds) => ({ ...ds.manifest, ...(ds.status ? { status: ds.status } : {}) }));
      return send(res, 200, { apiVersion: 'apps/v1', kind: 'DaemonSetList', metadata: { resourceVersion: '1' }, items });
    }
    if (req.method === 'POST' && !name) {
      const manifest = body as StoredDaemonSet['manifest'];
      const key = manifest.metadata.name;
      if (this.daemonSets.has(key) || this.hiddenConflicts.has(key))
        return send(res, 409, status(409, 'AlreadyExists', `daemonsets.apps "${key}" already exists`));
      const stored = { manifest: { ...manifest, metadata: { ...manifest.metadata, generation: 1, uid: `uid-${key}` } } };
      this.daemonSets.set(key, stored);
      return send(res, 201, stored.manifest);
    }
    if (req.method === 'DELETE' && name) {
      if (!this.daemonSets.delete(name)) return send(res, 404, status(404, 'NotFound', `daemonsets.apps "${name}" not found`));
      return send(res, 200, status(200, '', ''));
    }
    return send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
  }
}

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: code < 400 ? 'Success' : 'Failure', reason, message, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
