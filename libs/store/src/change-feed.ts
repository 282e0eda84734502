import type { Redis } from 'ioredis';
import { Keys } from './keys';
import {
  parseCapacityUsage,
  parseNodeChange,
  parsePullChange,
  type CapacityUsage,
  type NodeChange,
  type PullChange,
} from './change-messages';

/** Where a feed reports a message it dropped (the apps pass their pino logger). */
export interface FeedLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** What each topic's handler is given. */
export interface ChangeMessages {
  /** A node's registration, inventory, cordon or liveness changed, or it was removed. */
  nodes: NodeChange;
  /** A reservation was released; carries the node's usage after it. */
  capacityFreed: CapacityUsage;
  /** A reservation was made; carries the node's usage after it. */
  capacityReserved: CapacityUsage;
  /** A pool was created, changed, claimed from or drained (the pool id). */
  pools: string;
  /** A pin was created, superseded or removed (the pin id). */
  pins: string;
  /** A pull was claimed or ended. */
  pulls: PullChange;
  /** A prepull hint was added (the pinned reference). */
  prepullHints: string;
}

type Topic = keyof ChangeMessages;

/** What a subscriber wants to hear about; each handler gets a validated message. */
export type ChangeHandlers = { [T in Topic]?: (message: ChangeMessages[T]) => void };

const TOPICS: readonly Topic[] = ['nodes', 'capacityFreed', 'capacityReserved', 'pools', 'pins', 'pulls', 'prepullHints'];

/** How each topic's messages are read: undefined for a malformed one. */
const PARSERS: { [T in Topic]: (message: string) => ChangeMessages[T] | undefined } = {
  nodes: parseNodeChange,
  capacityFreed: parseCapacityUsage,
  capacityReserved: parseCapacityUsage,
  pools: nonEmpty,
  pins: nonEmpty,
  pulls: parsePullChange,
  prepullHints: nonEmpty,
};

function nonEmpty(message: string): string | undefined {
  return message === '' ? undefined : message;
}

function channelOf(keys: Keys, topic: Topic): string {
  switch (topic) {
    case 'nodes':
      return keys.nodesChanged();
    case 'capacityFreed':
      return keys.capacityFreed();
    case 'capacityReserved':
      return keys.capacityReserved();
    case 'pools':
      return keys.poolsChanged();
    case 'pins':
      return keys.pinsChanged();
    case 'pulls':
      return keys.pullsChanged();
    case 'prepullHints':
      return keys.prepullHintsAdded();
  }
}

/**
 * The store's change announcements, typed: one subscriber connection of its
 * own (a duplicate of the one given) for the channels a caller has handlers
 * for. Messages are validated before a handler sees them; a malformed one is
 * logged and dropped, never thrown. A handler that throws is logged too, so
 * one bad message cannot stop the feed.
 */
export class ChangeFeed {
  private readonly keys: Keys;
  private subscriber?: Redis;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: FeedLogger,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Resolves once subscribed. One subscription per feed. */
  async subscribe(handlers: ChangeHandlers): Promise<void> {
    if (this.subscriber) throw new Error('this change feed is already subscribed');
    const routes = new Map<string, (message: string) => void>();
    for (const topic of TOPICS) {
      const route = this.route(topic, handlers);
      if (route) routes.set(channelOf(this.keys, topic), route);
    }
    const subscriber = this.redis.duplicate();
    // Without a listener ioredis prints each failed reconnect to stderr; one warning per outage.
    let down = false;
    subscriber.on('error', (error: Error) => {
      if (!down) this.logger.warn({ err: error.message }, 'change feed connection lost; reconnecting (resubscribes on its own)');
      down = true;
    });
    subscriber.on('ready', () => (down = false));
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => routes.get(channel)?.(message));
    if (routes.size > 0) await subscriber.subscribe(...routes.keys());
  }

  /** Stops listening and closes the feed's connection. */
  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }

  private route<T extends Topic>(topic: T, handlers: ChangeHandlers): ((message: string) => void) | undefined {
    const handler: ((message: ChangeMessages[T]) => void) | undefined = handlers[topic];
    if (!handler) return undefined;
    const parse: (message: string) => ChangeMessages[T] | undefined = PARSERS[topic];
    return (message) => {
      const value = parse(message);
      if (value === undefined) {
        this.logger.warn({ topic, message: message.slice(0, 200) }, 'malformed change message dropped');
        return;
      }
      try {
        handler(value);
      } catch (error) {
        this.logger.warn({ topic, err: error instanceof Error ? error.message : String(error) }, 'change handler failed');
      }
    };
  }
}

/** The node part of the feed alone: `subscribe(handler)` with each validated `{nodeId, what}`. */
export class NodeChangeFeed {
  private readonly feed: ChangeFeed;

  constructor(redis: Redis, prefix: string, logger: FeedLogger) {
    this.feed = new ChangeFeed(redis, prefix, logger);
  }

  subscribe(handler: (change: NodeChange) => void): Promise<void> {
    return this.feed.subscribe({ nodes: handler });
  }

  close(): Promise<void> {
    return this.feed.close();
  }
}
