import { Keys } from './keys';
import { globLiteral, slug, type AclUser } from './redis-acl';

/** The warmpod services that connect to Redis, each as its own ACL user. */
export const WARMPOD_SERVICES = ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const;
export type WarmpodService = (typeof WARMPOD_SERVICES)[number];

/** Stands for "any id" in a key built by Keys, then turned into `*` once the rest is escaped. */
const ANY = '\u0000';
const pattern = (key: string): string => globLiteral(key).split(ANY).join('*');

/**
 * The record families a service may write, each as the keys Keys builds for
 * it (ANY for an id). A Lua script needs write rights on every key it names
 * in KEYS (Redis asks read and write rights of an EVALSHA's keys), reads
 * only on the keys it reaches by a stem, so a family is written whole.
 */
function families(k: Keys) {
  return {
    /** Pod spec and status, the tenant indexes (pods, quota charges, pins, checkpoints), idempotency keys, the backlog. */
    pods: [k.podSpec(ANY), k.podStatus(ANY), `${k.prefix}tenant:${ANY}`, k.idempotency(ANY, ANY), k.backlog()],
    /** The three event streams (pod scripts append in the same step as the change). */
    events: [k.allEvents(), k.tenantEvents(ANY), k.podEvents(ANY)],
    rateBuckets: [k.rateBucket(ANY)],
    /** Node registry, liveness, inventory, reservations and usage, per-node checkpoint indexes: all under `node:<id>`. */
    nodes: [k.nodes(), k.node(ANY)],
    /** What an image is made of: the admission's record, the layers nodes report. */
    images: [k.image(ANY), k.layers(ANY)],
    prepullHints: [k.prepullHints(), k.prepullHintNodes()],
    protectedDigests: [k.protectedDigests(ANY), k.protectedNodes()],
    pulls: [k.pull(ANY, ANY), k.pullsInflight()],
    pins: [k.pin(ANY), k.activePins(), k.supersededPins()],
    pools: [k.pool(ANY), k.pools(), k.tenantPools(ANY), k.poolNames()],
    checkpoints: [k.checkpoint(ANY), k.checkpointArtifacts(ANY), k.checkpointArtifactGarbage()],
    /** The queue door's queues, when it runs as the gateway's user (no INTAKE_REDIS_URL). */
    intake: [`${k.intakeStem()}${ANY}`, `${k.tenantQueuesStem()}${ANY}`],
    schedulingQueue: [`${k.internalQueueKeys('scheduling')}:${ANY}`],
    nodeQueues: [`${k.internalQueueKeys('node-')}${ANY}`],
  };
}
type Family = keyof ReturnType<typeof families>;

/**
 * What each service writes (derived from the stores and queues its
 * production sources use; ARCHITECTURE.md, "Which service writes which
 * records"). Everything else under the prefix it may only read.
 */
export const SERVICE_WRITES: Readonly<Record<WarmpodService, readonly Family[]>> = {
  // Admission (pods, images, quota charges, pins, pool claims), cordon and drain, checkpoint requests and deletes,
  // rate buckets; adds to the scheduling and node queues; runs the queue door when it has no user of its own.
  gateway: ['pods', 'events', 'rateBuckets', 'nodes', 'images', 'pins', 'pools', 'checkpoints', 'intake', 'schedulingQueue', 'nodeQueues'],
  // Placement (pods, reservations, backlog), the node registry and liveness, pools and their pins, prepull hints;
  // checkpoints only looked up (their lookup scripts name the indexes in KEYS); consumes scheduling, adds to node queues.
  scheduler: ['pods', 'events', 'nodes', 'images', 'prepullHints', 'pins', 'pools', 'checkpoints', 'schedulingQueue', 'nodeQueues'],
  // Its pods' phases, its node's reservations, inventory and checkpoints, pull progress; consumes its node queue,
  // moves jobs to scheduling on drain.
  'worker-agent': ['pods', 'events', 'nodes', 'images', 'pulls', 'checkpoints', 'schedulingQueue', 'nodeQueues'],
  // Its pull, hint and protection state, the pins it retires (their tenant index and events), pull-image jobs.
  prepuller: ['prepullHints', 'protectedDigests', 'pulls', 'pins', 'events', 'nodeQueues'],
};

/** Services that subscribe to the change feed; the others only publish (from their scripts). */
const SUBSCRIBERS: ReadonlySet<WarmpodService> = new Set(['scheduler', 'prepuller']);

/**
 * A service's Redis user: fenced to its deployment's prefix (another
 * deployment sharing the Redis is out of reach), reads anywhere under it,
 * writes only the families it writes (SERVICE_WRITES), BullMQ's commands,
 * PUBLISH on the deployment's channels (SUBSCRIBE only for the change
 * feed's readers), nothing administrative (no CONFIG, ACL, FLUSH*, KEYS,
 * DEBUG, CLIENT KILL ...). One user per service, not per node: the agents
 * of every node share theirs (one Secret for the DaemonSet).
 */
export function serviceUser(prefix: string, service: WarmpodService, password: string): AclUser {
  const all = `${globLiteral(prefix)}*`;
  const k = new Keys(prefix);
  const table = families(k);
  // The prepuller's pins: their tenant index too (the pods family, whole, is not its).
  const extra = service === 'prepuller' ? [k.tenantPins(ANY)] : [];
  const keys = [...SERVICE_WRITES[service].flatMap((f) => table[f]), ...extra].map(pattern);
  return {
    name: serviceUserName(prefix, service),
    password,
    keys,
    readKeys: [all],
    channels: [all],
    subscribes: SUBSCRIBERS.has(service),
    mayScan: true,
  };
}

export function serviceUserName(prefix: string, service: WarmpodService): string {
  return `warmpod-${slug(prefix)}-${service}`;
}
