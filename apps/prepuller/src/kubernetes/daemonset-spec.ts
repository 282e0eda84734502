import { createHash } from 'node:crypto';

/** Labels and annotations that mark the DaemonSets this driver owns. */
export const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'warmpod-prepuller' } as const;
export const PREPULL_LABEL = 'warmpod.dev/prepull';
export const PINNED_ANNOTATION = 'warmpod.dev/pinned';

export interface WarmTarget {
  /** `registry/repository@sha256:...`. */
  pinned: string;
  digest: string;
  nodeSelector: Record<string, string>;
}

export interface DaemonSetOptions {
  namespace: string;
  /** Pause-like main container, pinned by digest. */
  pauseImage: string;
  /** What the init container runs inside the pinned image (a no-op). */
  noopCommand: string[];
}

/** The parts of a DaemonSet manifest this driver writes and reads (a subset of apps/v1 DaemonSet). */
export interface DaemonSetManifest {
  apiVersion: 'apps/v1';
  kind: 'DaemonSet';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        nodeSelector?: Record<string, string>;
        automountServiceAccountToken: false;
        enableServiceLinks: false;
        terminationGracePeriodSeconds: number;
        initContainers: ContainerManifest[];
        containers: ContainerManifest[];
      };
    };
  };
}

interface ContainerManifest {
  name: string;
  image: string;
  imagePullPolicy: 'IfNotPresent';
  command?: string[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

const TINY = { requests: { cpu: '1m', memory: '8Mi' }, limits: { cpu: '50m', memory: '32Mi' } };

/**
 * One DaemonSet per pinned digest (and node selector): the kubelet pulls the
 * image by digest for the init container (`IfNotPresent`: a node that has it
 * pulls nothing), which runs a no-op; the main container is a pause-like
 * image that idles, so the pod stays and keeps the image in use.
 * The name is derived from the digest and selector, so every replica
 * computes the same name and a second create is a harmless conflict.
 */
export function daemonSetFor(target: WarmTarget, opts: DaemonSetOptions): DaemonSetManifest {
  const id = warmId(target);
  const labels = { [MANAGED_BY.key]: MANAGED_BY.value, [PREPULL_LABEL]: id };
  const hasSelector = Object.keys(target.nodeSelector).length > 0;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: `warmpod-prepull-${id}`, namespace: opts.namespace, labels, annotations: { [PINNED_ANNOTATION]: target.pinned } },
    spec: {
      selector: { matchLabels: { [PREPULL_LABEL]: id } },
      template: {
        metadata: { labels },
        spec: {
          ...(hasSelector ? { nodeSelector: { ...target.nodeSelector } } : {}),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 1,
          initContainers: [
            { name: 'warm', image: target.pinned, imagePullPolicy: 'IfNotPresent', command: [...opts.noopCommand], resources: TINY },
          ],
          containers: [{ name: 'pause', image: opts.pauseImage, imagePullPolicy: 'IfNotPresent', resources: TINY }],
        },
      },
    },
  };
}

/** 12 hex of the digest, plus 8 of the selector when there is one (label values stay under 63 characters). */
export function warmId(target: Pick<WarmTarget, 'digest' | 'nodeSelector'>): string {
  const hex = target.digest.slice(target.digest.indexOf(':') + 1, target.digest.indexOf(':') + 13);
  const entries = Object.entries(target.nodeSelector).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return hex;
  return `${hex}-${createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 8)}`;
}
