import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import type { Logger } from '@warmpod/observability';
import { z } from 'zod';
import { kubeNodeSchema, viewOf, type NodeView } from './node-view';

export interface NodeWatchOptions {
  nodeName: string;
  /** Loads the KubeConfig: in-cluster service account in a cluster, a test server's in tests. */
  configure: (kc: KubeConfig) => void;
  /** Every view of the Node, the first one included; `undefined` when the Node is gone. */
  onView: (view: NodeView | undefined) => void;
  logger: Logger;
  /** Backoff after a failed read or watch (doubles up to 30 s). */
  retryMs?: number;
}

const statusSchema = z.object({ code: z.number().optional(), kind: z.string().optional() }).passthrough();

/** The HTTP status of a client-node error (ApiException carries `code`), or a watch ERROR object's code. */
function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code: unknown = Reflect.get(error, 'code') ?? Reflect.get(error, 'statusCode');
  return typeof code === 'number' ? code : undefined;
}

/**
 * Reads the agent's own Node, then watches it (list+watch on
 * `fieldSelector=metadata.name=<node>` from the read's resourceVersion, with
 * bookmarks). A 410 Gone relists; other failures retry with backoff; a 403
 * (no RBAC to read the Node) stops the watch for good, with a clear log, and
 * the agent runs without Node awareness rather than crash-looping.
 */
export class NodeWatch {
  private stopped = false;
  private abort?: AbortController;
  private timer?: NodeJS.Timeout;
  private resourceVersion?: string;
  private retryMs: number;

  constructor(private readonly o: NodeWatchOptions) {
    this.retryMs = o.retryMs ?? 1_000;
  }

  /** The first view, or undefined when the Node cannot be read (then nothing more happens). */
  async start(): Promise<NodeView | undefined> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    this.o.configure(kc);
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const watch = new k8s.Watch(kc);
    const read = async (): Promise<NodeView | undefined> => {
      const node = kubeNodeSchema.parse(await api.readNode({ name: this.o.nodeName }));
      this.resourceVersion = node.metadata.resourceVersion;
      return viewOf(node);
    };
    const loop = async (relist: boolean): Promise<void> => {
      if (this.stopped) return;
      try {
        if (relist) this.o.onView(await read());
        this.abort = await watch.watch(
          '/api/v1/nodes',
          { fieldSelector: `metadata.name=${this.o.nodeName}`, resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
          (type: string, obj: unknown) => this.event(type, obj),
          (error: unknown) => this.ended(error, loop),
        );
        this.retryMs = this.o.retryMs ?? 1_000;
      } catch (error) {
        if (this.explain(error, relist ? 'read' : 'watch')) this.later(() => loop(relist || statusOf(error) === 410));
      }
    };
    try {
      const first = await read();
      this.o.onView(first);
      await loop(false);
      return first;
    } catch (error) {
      // Not readable now: keep trying in the background unless it is a permission problem.
      if (this.explain(error, 'read')) this.later(() => loop(true));
      return undefined;
    }
  }

  private gone = false;

  private event(type: string, obj: unknown): void {
    if (type === 'ERROR') {
      // 410 inside the stream: the resourceVersion is too old; the watch ends and is relisted.
      const status = statusSchema.safeParse(obj);
      if (status.success && status.data.code === 410) this.gone = true;
      return;
    }
    const parsed = kubeNodeSchema.safeParse(obj);
    if (!parsed.success) return this.o.logger.warn({ type }, 'ignoring a Node watch event that is not a Node');
    this.resourceVersion = parsed.data.metadata.resourceVersion ?? this.resourceVersion;
    if (type === 'BOOKMARK') return;
    this.o.onView(type === 'DELETED' ? undefined : viewOf(parsed.data));
  }

  private ended(error: unknown, loop: (relist: boolean) => Promise<void>): void {
    if (this.stopped) return;
    const relist = this.gone || statusOf(error) === 410;
    this.gone = false;
    if (relist) this.resourceVersion = undefined;
    if (error && !relist) this.explain(error, 'watch');
    // A watch that simply ended (server timeout) resumes at once from the last resourceVersion.
    if (relist || !error) void loop(relist);
    else this.later(() => loop(false));
  }

  /** Logs why a call failed; false when it must not be retried (no permission). */
  private explain(error: unknown, what: string): boolean {
    const code = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (code === 403 || code === 401) {
      this.o.logger.error(
        { node: this.o.nodeName, status: code },
        `no permission to ${what} Node ${this.o.nodeName} (RBAC: nodes get/list/watch): running without Node awareness`,
      );
      this.stopped = true;
      return false;
    }
    if (code !== 410) this.o.logger.warn({ node: this.o.nodeName, status: code, err: message }, `Node ${what} failed; retrying`);
    return true;
  }

  private later(task: () => Promise<void>): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void task(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }
}
