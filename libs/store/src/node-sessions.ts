import type { Redis } from 'ioredis';
import type { Resources } from '@warmpod/domain';
import { nodeChangeMessage } from './change-messages';
import { Keys } from './keys';
import { imageArgs, type CachedImage } from './node-images';
import { registrationFields, type NodeCheckpoint, type NodeRegistration } from './node-record';
import { applyDelta, applyInventory, deregisterNode, registerNode, touchNode } from './scripts/node-scripts';
import type { Deregistration, SessionWrite } from './scripts/replies';

export type { Deregistration, SessionWrite } from './scripts/replies';

/** What an agent reports on connect: replaces everything known about the node's contents. */
export interface NodeInventory {
  images: CachedImage[];
  runningPods: string[];
  checkpoints: NodeCheckpoint[];
  /** As the agent accounts it; absent when not reported. */
  usage?: Resources;
}

/** A change report: images added and removed; the other lists are complete and replace the stored ones. */
export interface NodeInventoryDelta {
  addedImages: CachedImage[];
  removedImages: string[];
  runningPods: string[];
  checkpoints: NodeCheckpoint[];
  usage?: Resources;
}

/**
 * An agent's session with the registry: registering starts one, and only
 * reports carrying it are applied (a node declared lost refuses them until
 * its agent registers again). What the gRPC registry server writes.
 */
export class NodeSessions {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Registers the node under `sessionId`, which replaces any previous
   * session, and clears a lost mark; keeps the cordon flag and the last
   * known inventory until a new one arrives. `''` registers it without a
   * session (only tests do): no report is accepted until one registers.
   */
  async register(node: NodeRegistration, sessionId: string): Promise<void> {
    await registerNode.run(
      this.redis,
      { nodes: this.keys.nodes(), node: this.keys.node(node.id) },
      { nodeId: node.id, channel: this.keys.nodesChanged(), change: nodeChangeMessage(node.id, 'registered'), sessionId },
      { args: Object.entries(registrationFields(node, new Date().toISOString())).flat() },
    );
  }

  /** Replaces the node's inventory within its session and refreshes liveness. */
  async applyInventory(id: string, sessionId: string, inventory: NodeInventory): Promise<SessionWrite> {
    return applyInventory.run(this.redis, this.imageKeys(id), this.reportArgs(id, sessionId, inventory), {
      keys: inventory.images.map((i) => this.keys.layers(i.digest)),
      args: inventory.images.flatMap(imageArgs),
    });
  }

  /** Applies a change report within the node's session and refreshes liveness. */
  async applyDelta(id: string, sessionId: string, delta: NodeInventoryDelta): Promise<SessionWrite> {
    return applyDelta.run(
      this.redis,
      this.imageKeys(id),
      { ...this.reportArgs(id, sessionId, delta), addedCount: delta.addedImages.length },
      {
        keys: delta.addedImages.map((i) => this.keys.layers(i.digest)),
        args: [...delta.addedImages.flatMap(imageArgs), ...delta.removedImages],
      },
    );
  }

  /** Refreshes liveness within the node's session (not announced: readers re-check heartbeats themselves). */
  async touch(id: string, sessionId: string): Promise<SessionWrite> {
    return touchNode.run(
      this.redis,
      { nodes: this.keys.nodes(), node: this.keys.node(id) },
      { nodeId: id, sessionId, nowIso: new Date().toISOString() },
    );
  }

  /**
   * Takes the node out of the registry within its session (its agent
   * leaves the cluster); refused while any pod still holds a reservation there.
   */
  async deregister(id: string, sessionId: string): Promise<Deregistration> {
    return deregisterNode.run(
      this.redis,
      {
        nodes: this.keys.nodes(),
        node: this.keys.node(id),
        images: this.keys.nodeImages(id),
        usage: this.keys.nodeUsage(id),
        reservations: this.keys.nodeReservations(id),
      },
      { nodeId: id, sessionId, channel: this.keys.nodesChanged(), change: nodeChangeMessage(id, 'deregistered') },
    );
  }

  private imageKeys(id: string): { nodes: string; node: string; images: string } {
    return { nodes: this.keys.nodes(), node: this.keys.node(id), images: this.keys.nodeImages(id) };
  }

  private reportArgs(id: string, sessionId: string, report: Pick<NodeInventory, 'runningPods' | 'checkpoints' | 'usage'>) {
    return {
      nodeId: id,
      sessionId,
      nowIso: new Date().toISOString(),
      channel: this.keys.nodesChanged(),
      runningPodsJson: JSON.stringify(report.runningPods),
      checkpointsJson: JSON.stringify(report.checkpoints),
      usageJson: report.usage ? JSON.stringify(report.usage) : '',
      change: nodeChangeMessage(id, 'inventory'),
    };
  }
}
