import type { Redis } from 'ioredis';
import type { Resources } from '@warmpod/domain';
import { Keys } from './keys';
import { milli } from './node-record';
import { releaseCapacity, reserveCapacity } from './scripts/node-scripts';

/**
 * Capacity accounting: each pod's reservation on a node, and the node's
 * reserved totals with a revision bumped on every change. Reservations and
 * releases are announced with the usage after them (`capacity:reserved`,
 * `capacity:freed`), so placement views follow without reading.
 */
export class NodeReservations {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Atomically reserves capacity, or refuses when it no longer fits (or the
   * node is unknown); also tells the node's usage after the attempt and its
   * revision (to correct a cached view, keeping the newest of several reports).
   */
  async tryReserve(
    nodeId: string,
    podId: string,
    want: Resources,
  ): Promise<{ reserved: boolean; allocated: Resources; usageRev?: number }> {
    const r = await reserveCapacity.run(
      this.redis,
      { node: this.keys.node(nodeId), usage: this.keys.nodeUsage(nodeId), reservations: this.keys.nodeReservations(nodeId) },
      {
        podId,
        cpuMilli: milli(want.cpu),
        memoryMiB: want.memoryMiB,
        gpu: want.gpu,
        channel: this.keys.capacityReserved(),
        nodeId,
      },
    );
    return { reserved: r.outcome === 1, allocated: { cpu: r.cpuMilli / 1000, memoryMiB: r.memoryMiB, gpu: r.gpu }, usageRev: r.rev };
  }

  /** Gives a pod's reservation back and announces the node's usage after it on `capacity:freed`. */
  async release(nodeId: string, podId: string): Promise<void> {
    await releaseCapacity.run(
      this.redis,
      { usage: this.keys.nodeUsage(nodeId), reservations: this.keys.nodeReservations(nodeId) },
      { podId, channel: this.keys.capacityFreed(), nodeId },
    );
  }

  /** Ids of the pods holding a reservation on the node. */
  async list(nodeId: string): Promise<string[]> {
    return this.redis.hkeys(this.keys.nodeReservations(nodeId));
  }
}
