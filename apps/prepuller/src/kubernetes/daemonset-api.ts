import type { AppsV1Api, KubeConfig, V1DaemonSet } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import type { DaemonSetManifest } from './daemonset-spec';

/** A DaemonSet as the driver reads it back. */
export interface DaemonSetState {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Nodes the DaemonSet should run on. */
  desired: number;
  /** Nodes where its pod is Ready: the init container pulled the image and ran. */
  ready: number;
  /** The controller has seen the current spec (before that, the counts mean nothing). */
  observed: boolean;
}

/** The three calls the driver makes; conflicts on create and absence on delete are not errors. */
export interface DaemonSetApi {
  list(namespace: string, labelSelector: string): Promise<DaemonSetState[]>;
  create(namespace: string, manifest: DaemonSetManifest): Promise<'created' | 'exists'>;
  remove(namespace: string, name: string): Promise<'deleted' | 'absent'>;
}

/**
 * DaemonSetApi through @kubernetes/client-node (ESM-only from 1.0, so it is
 * loaded with a dynamic import). `configure` loads the KubeConfig, e.g.
 * `kc => kc.loadFromDefault()` (in-cluster service account or KUBECONFIG).
 */
export async function connectDaemonSetApi(configure: (kc: KubeConfig) => void): Promise<DaemonSetApi> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  configure(kc);
  return new ClientDaemonSetApi(kc.makeApiClient(k8s.AppsV1Api));
}

class ClientDaemonSetApi implements DaemonSetApi {
  constructor(private readonly apps: AppsV1Api) {}

  async list(namespace: string, labelSelector: string): Promise<DaemonSetState[]> {
    const list = await this.apps.listNamespacedDaemonSet({ namespace, labelSelector });
    return list.items.map(toState);
  }

  async create(namespace: string, manifest: DaemonSetManifest): Promise<'created' | 'exists'> {
    try {
      await this.apps.createNamespacedDaemonSet({ namespace, body: manifest as V1DaemonSet });
      return 'created';
    } catch (error) {
      if (statusOf(error) === 409) return 'exists';
      throw error;
    }
  }

  async remove(namespace: string, name: string): Promise<'deleted' | 'absent'> {
    try {
      await this.apps.deleteNamespacedDaemonSet({ namespace, name, propagationPolicy: 'Background' });
      return 'deleted';
    } catch (error) {
      if (statusOf(error) === 404) return 'absent';
      throw error;
    }
  }
}

function toState(ds: V1DaemonSet): DaemonSetState {
  return {
    name: ds.metadata?.name ?? '',
    labels: ds.metadata?.labels ?? {},
    annotations: ds.metadata?.annotations ?? {},
    desired: ds.status?.desiredNumberScheduled ?? 0,
    ready: ds.status?.numberReady ?? 0,
    observed: ds.status?.observedGeneration !== undefined && ds.status.observedGeneration >= (ds.metadata?.generation ?? 0),
  };
}

/** The HTTP status of a client error (ApiException carries it as `code`). */
function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
