import type { Redis } from 'ioredis';
import { Keys } from './keys';

/**
 * Redis ACL users, built in one place: who may touch which keys with which
 * commands. Redis checks every command, including each one a Lua script
 * runs (BullMQ's are scripts), against the user's key patterns, so a
 * producer's reach is enforced by Redis, not by warmpod trusting it.
 */
export interface AclUser {
  name: string;
  password: string;
  /** Glob patterns of the keys the user may read and write. */
  keys: string[];
  /** Glob patterns of keys the user may only read (Redis 7 `%R~`). */
  readKeys?: string[];
  /** Glob patterns of the pub/sub channels the user may publish and subscribe to; none: no pub/sub at all. */
  channels?: string[];
  /** With channels: whether SUBSCRIBE and PSUBSCRIBE come back too (else PUBLISH only). Default true. */
  subscribes?: boolean;
  /** SCAN lists key names whatever the patterns: only users allowed to see every name get it. */
  mayScan: boolean;
}

/**
 * What a BullMQ client needs (scripts, reads and writes of its keys, the
 * blocking pops and stream reads of workers and QueueEvents, CLIENT SETNAME,
 * INFO for its version check) and TIME (warmpod's rate-bucket script), without anything dangerous (KEYS, FLUSH*,
 * CONFIG, DEBUG, SORT, MIGRATE, CLIENT KILL ...), pub/sub (no channels), or
 * RANDOMKEY (a key name outside the patterns).
 */
const BULLMQ_COMMANDS = [
  '+@read',
  '+@write',
  '+@scripting',
  '+@connection',
  '+@transaction',
  '+@blocking',
  '-@dangerous',
  '-@admin',
  '-@pubsub',
  '-randomkey',
  '+info',
  // Redis's clock: the gateway's rate buckets (takeRateToken) read it, one clock for every replica.
  '+time',
  '+client|setname',
  '+client|getname',
  '+client|id',
];

/** Escapes a literal for a Redis glob pattern. */
export function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** A prefix as part of a user name that can sit in a redis:// URL. */
export function slug(prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'default';
}

/**
 * A tenant's producer: the queues of its intake prefix (`intakePrefix`) named
 * in `queues` (the door's intake and control queues; no other queue under
 * that prefix, so nothing there looks like another tenant's queue) and its
 * own queues (`tenantQueuesPrefix`, for a flow's parent), nothing else: not
 * another tenant's queues, not warmpod's records or internal queues.
 *
 * The queues' `meta` hashes (where the door sets pods in flight and the rate
 * limit) stay writable: BullMQ's add scripts take `meta` (and `active`) among
 * their KEYS, and Redis asks read and write rights on every key an EVALSHA
 * names. See ARCHITECTURE.md (queue door) for what a producer can do with that.
 */
export function intakeProducerUser(prefix: string, tenant: string, password: string, queues: readonly string[]): AclUser {
  if (queues.length === 0) throw new Error(`intake producer user of tenant "${tenant}": no intake queue named`);
  const keys = new Keys(prefix);
  const intake = globLiteral(keys.intakePrefix(tenant));
  return {
    name: `warmpod-${slug(prefix)}-producer-${tenant}`,
    password,
    keys: [...queues.map((q) => `${intake}:${globLiteral(q)}:*`), `${globLiteral(keys.tenantQueuesPrefix(tenant))}:*`],
    mayScan: false,
  };
}

/**
 * The queue door's consumer: every intake queue and every tenant's own
 * queues (completing a child updates its parent there), none of warmpod's
 * records: admission writes those over the gateway's own connection.
 */
export function intakeConsumerUser(prefix: string, password: string): AclUser {
  const keys = new Keys(prefix);
  return {
    name: `warmpod-${slug(prefix)}-intake`,
    password,
    keys: [`${globLiteral(keys.intakeStem())}*`, `${globLiteral(keys.tenantQueuesStem())}*`],
    mayScan: true,
  };
}

/** The ACL SETUSER rules of a user; `reset` first, so applying it again replaces the old password and rights. */
export function aclRules(user: AclUser): string[] {
  return [
    'reset',
    'on',
    `>${user.password}`,
    ...user.keys.map((k) => `~${k}`),
    ...(user.readKeys ?? []).map((k) => `%R~${k}`),
    'resetchannels',
    ...(user.channels ?? []).map((c) => `&${c}`),
    ...BULLMQ_COMMANDS,
    // After -@pubsub: only the plain channel commands come back, and only when the user has channels.
    ...(user.channels?.length ? ['+publish'] : []),
    ...(user.channels?.length && user.subscribes !== false ? ['+subscribe', '+unsubscribe', '+psubscribe', '+punsubscribe'] : []),
    ...(user.mayScan ? [] : ['-scan']),
  ];
}

/** `redis://user:password@host:port/db` from the URL warmpod's services use. */
export function redisUrlAs(baseUrl: string, user: Pick<AclUser, 'name' | 'password'>): string {
  const url = new URL(baseUrl);
  url.username = encodeURIComponent(user.name);
  url.password = encodeURIComponent(user.password);
  return url.toString();
}

/** Creates or replaces the users (needs a connection allowed to run ACL), and saves them where Redis keeps its users. */
export async function applyAclUsers(admin: Redis, users: AclUser[]): Promise<void> {
  for (const user of users) await admin.call('ACL', 'SETUSER', user.name, ...aclRules(user));
  await saveAclUsers(admin);
}

export async function removeAclUsers(admin: Redis, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await admin.call('ACL', 'DELUSER', ...names);
  await saveAclUsers(admin);
}

/**
 * ACL SETUSER lives in memory only (neither RDB nor AOF keeps it): a Redis
 * started with an `aclfile` (as the bootstrap's and the tests' are) gets the
 * users written there, so a restart keeps them. One without an aclfile keeps
 * them until it restarts; false then.
 */
export async function saveAclUsers(admin: Redis): Promise<boolean> {
  try {
    await admin.call('ACL', 'SAVE');
    return true;
  } catch (error) {
    if (/not configured to use an ACL file/i.test(error instanceof Error ? error.message : String(error))) return false;
    throw error;
  }
}
