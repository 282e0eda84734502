import { Keys } from './keys';
import { globLiteral, slug, type AclUser } from './redis-acl';

/** The warmpod services that connect to Redis, each as its own ACL user. */
export const WARMPOD_SERVICES = ['gateway', 'scheduler', 'prepuller', 'worker-agent'] as const;
export type WarmpodService = (typeof WARMPOD_SERVICES)[number];

/** Stands for "any id" in a key built by Keys, then turned into `*` once the rest is escaped. */
const ANY = '\u0000';
const pattern = (key: string): string => globLiteral(key).split(ANY).join('*');

/**
 * A service's Redis user: fenced to its deployment's prefix (another
 * deployment sharing the Redis is out of reach), BullMQ's commands plus
 * pub/sub on the deployment's channels (the change feed), nothing
 * administrative (no CONFIG, ACL, FLUSH*, KEYS, DEBUG, CLIENT KILL ...).
 *
 * The gateway, scheduler and agents write records of every kind (admission,
 * placement and the pod lifecycle share pods, nodes, reservations, events,
 * checkpoints and their queues), so each may write under the prefix. The
 * prepuller reads them only: it writes its own pull and hint state, the
 * pins it retires (and their events), and pull-image jobs on node queues.
 */
export function serviceUser(prefix: string, service: WarmpodService, password: string): AclUser {
  const all = `${globLiteral(prefix)}*`;
  const user = { name: serviceUserName(prefix, service), password, channels: [all], mayScan: true };
  if (service !== 'prepuller') return { ...user, keys: [all] };
  const k = new Keys(prefix);
  const own = [
    k.prepullHints(),
    k.prepullHintNodes(),
    k.protectedDigests(ANY),
    k.protectedNodes(),
    k.pull(ANY, ANY),
    k.pullsInflight(),
    k.pin(ANY),
    k.tenantPins(ANY),
    k.activePins(),
    k.supersededPins(),
    k.allEvents(), // a removed pin is an event
    k.tenantEvents(ANY),
    `${k.internalQueueKeys('node-')}${ANY}`,
  ];
  return { ...user, keys: own.map(pattern), readKeys: [all] };
}

export function serviceUserName(prefix: string, service: WarmpodService): string {
  return `warmpod-${slug(prefix)}-${service}`;
}
