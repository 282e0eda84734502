import { connectRedis, NodeRepository } from '@warmpod/store';
import { createLogger } from '@warmpod/observability';
import type { AgentConfig } from '../config';
import { cappedCapacity, mergedLabels, type NodeView } from './node-view';
import { NodeWatch } from './node-watch';
import { CordonSync } from './cordon-sync';

/** Registration refuses more labels than this (libs/node-registry REGISTRY_LIMITS.labelsMax). */
const MAX_LABELS = 64;

/**
 * In a Kubernetes cluster (`inKubernetes`: KUBERNETES_SERVICE_HOST set), the agent's config
 * as its Node shapes it: the Node's labels added, capacity capped at the
 * Node's allocatable; then the Node is watched and its cordon (unschedulable,
 * NoSchedule/NoExecute taints, deletion) mirrored into warmpod. Outside a
 * cluster, or without permission to read the Node, the config is returned as is.
 * Label and capacity changes seen later apply at the agent's next start.
 */
export async function withKubeNode(config: AgentConfig): Promise<AgentConfig> {
  if (!config.inKubernetes) return config;
  const logger = createLogger({ service: 'worker-agent', level: config.logLevel, base: { node: config.nodeId, part: 'kube-node' } });
  const redis = connectRedis(config.redisUrl, `warmpod-agent-kube-${config.nodeId}`, 'worker', { tlsCaFile: config.redisTlsCaFile });
  const cordon = new CordonSync(config.nodeId, new NodeRepository(redis, config.prefix), logger);
  // Set once the first read returns; later views are compared with it.
  const seen: { first?: NodeView } = {};
  const watch = new NodeWatch({
    // NODE_ID is the Node's name (the chart sets it from spec.nodeName).
    nodeName: config.nodeId,
    configure: (kc) => kc.loadFromCluster(),
    onView: (view) => {
      if (
        seen.first &&
        view &&
        (JSON.stringify(view.labels) !== JSON.stringify(seen.first.labels) ||
          JSON.stringify(view.allocatable) !== JSON.stringify(seen.first.allocatable))
      ) {
        logger.info(
          { labels: view.labels, allocatable: view.allocatable },
          'Node labels or allocatable changed: applied at the next agent start',
        );
      }
      cordon.apply(view);
    },
    logger,
  });
  const first = await watch.start();
  seen.first = first;
  const stop = (): void => {
    watch.stop();
    cordon.stop();
    void redis.quit().catch(() => undefined);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!first) return config;
  const { labels, dropped } = mergedLabels(config.labels, first.labels, MAX_LABELS);
  if (dropped.length > 0) logger.warn({ dropped }, `only ${MAX_LABELS} labels fit a registration: these Node labels are left out`);
  const capacity = cappedCapacity(config.capacity, first);
  logger.info({ capacity, labels: Object.keys(labels).length, cordoned: first.cordoned }, 'Node read: labels merged, capacity capped');
  return { ...config, labels: { ...labels, 'warmpod.io/node': config.nodeId }, capacity };
}
