import { messageOf, type Logger } from '@warmpod/observability';
import type { PinRecord } from '@warmpod/store';
import { successorOf } from '../rotation';
import type { DaemonSetApi, DaemonSetState } from './daemonset-api';
import { daemonSetFor, MANAGED_BY, PINNED_ANNOTATION, type DaemonSetManifest, type DaemonSetOptions } from './daemonset-spec';

/** Progress of one pinned digest in the kubelet caches. */
export interface KubernetesWarmStatus {
  daemonSet: string;
  pinned: string;
  /** Nodes the DaemonSet targets, and nodes where the image was pulled and the no-op ran. */
  desired: number;
  ready: number;
}

export interface KubernetesSyncReport {
  created: string[];
  deleted: string[];
  /** Superseded DaemonSets kept until their successor is ready on every node. */
  kept: string[];
  status: KubernetesWarmStatus[];
}

export interface KubernetesPins {
  listActive(): Promise<PinRecord[]>;
  listSuperseded(): Promise<PinRecord[]>;
}

/**
 * Optional driver for clusters: warms the kubelet's own image cache with one
 * DaemonSet per active pin's digest (see `daemonSetFor`), reads each
 * DaemonSet's status for progress, and deletes DaemonSets that no active pin
 * wants. A superseded pin's DaemonSet stays until the successor's DaemonSet
 * is ready on every node it targets (the same convergent rotation as the
 * node caches). Runs at most once per `minIntervalMs`, one sync at a time;
 * replicas computing the same names make creates and deletes idempotent.
 */
export class KubernetesPrepullDriver {
  private running?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private lastRun = 0;
  private stopped = false;

  constructor(
    private readonly api: DaemonSetApi,
    private readonly pins: KubernetesPins,
    private readonly opts: DaemonSetOptions,
    private readonly logger: Logger,
    private readonly minIntervalMs = 1_000,
  ) {}

  /** Asks for a sync soon (throttled); errors are logged and retried on the next request. */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastRun + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastRun = Date.now();
      this.running = this.sync()
        .then((r) => {
          if (r.created.length + r.deleted.length > 0)
            this.logger.info({ created: r.created, deleted: r.deleted, kept: r.kept }, 'kubernetes prepull DaemonSets changed');
        })
        .catch((e: unknown) => this.logger.warn({ err: messageOf(e) }, 'kubernetes prepull sync failed'))
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.request();
          }
        });
    }, wait);
  }

  async sync(): Promise<KubernetesSyncReport> {
    const { namespace } = this.opts;
    const [active, superseded, existing] = await Promise.all([
      this.pins.listActive(),
      this.pins.listSuperseded(),
      this.api.list(namespace, `${MANAGED_BY.key}=${MANAGED_BY.value}`),
    ]);
    const wanted = new Map<string, DaemonSetManifest>();
    for (const pin of active) {
      const manifest = daemonSetFor(pin, this.opts);
      wanted.set(manifest.metadata.name, manifest);
    }
    const byName = new Map(existing.map((ds) => [ds.name, ds]));
    const created: string[] = [];
    for (const [name, manifest] of wanted) {
      if (byName.has(name)) continue;
      if ((await this.api.create(namespace, manifest)) === 'created') created.push(name);
    }

    const rotating = this.rotatingNames(active, superseded, byName);
    const deleted: string[] = [];
    const kept: string[] = [];
    for (const ds of existing) {
      if (wanted.has(ds.name)) continue;
      if (rotating.has(ds.name)) {
        kept.push(ds.name);
        continue;
      }
      if ((await this.api.remove(namespace, ds.name)) === 'deleted') deleted.push(ds.name);
    }
    const status = existing
      .filter((ds) => wanted.has(ds.name) || rotating.has(ds.name))
      .map((ds) => ({ daemonSet: ds.name, pinned: ds.annotations[PINNED_ANNOTATION] ?? '', desired: ds.desired, ready: ds.ready }));
    return { created, deleted, kept, status };
  }

  /** Names of superseded pins' DaemonSets whose successor's DaemonSet is not yet ready everywhere. */
  private rotatingNames(
    active: readonly PinRecord[],
    superseded: readonly PinRecord[],
    existing: ReadonlyMap<string, DaemonSetState>,
  ): Set<string> {
    const byId = new Map([...active, ...superseded].map((p) => [p.id, p]));
    const names = new Set<string>();
    for (const pin of superseded) {
      const successor = successorOf(pin, byId);
      if (!successor) continue;
      const next = existing.get(daemonSetFor(successor, this.opts).metadata.name);
      const converged = next !== undefined && next.observed && next.ready >= next.desired;
      if (!converged) names.add(daemonSetFor(pin, this.opts).metadata.name);
    }
    return names;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
