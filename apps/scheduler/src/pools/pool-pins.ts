import { newId } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import type { PinRepository, PoolRecord, PoolRepository } from '@warmpod/store';

/**
 * A pool's link to the prepuller: a pin of the pool's image at its current
 * digest, on the pool's node selector. Re-pinning the same reference at a new
 * digest supersedes the old pin, so the prepuller pulls the new digest onto
 * the nodes and keeps the old one until the new one is ready there.
 */
export class PoolPins {
  constructor(
    private readonly pins: PinRepository,
    private readonly pools: PoolRepository,
    private readonly logger: Logger,
  ) {}

  /** Makes sure a pin warms the pool's current digest. */
  async ensure(pool: PoolRecord): Promise<void> {
    if (pool.state !== 'active') return;
    if (pool.pin) {
      const pin = await this.pins.get(pool.pin.id);
      if (pin && pin.digest === pool.image.digest) return;
    }
    const { pin, created } = await this.pins.create({
      id: newId('pin'),
      tenant: pool.tenant,
      requested: pool.image.requested,
      reference: pool.image.reference,
      pinned: pool.image.pinned,
      digest: pool.image.digest,
      nodeSelector: pool.nodeSelector,
      createdAt: new Date().toISOString(),
    });
    await this.pools.setPin(pool.id, pool.image.digest, pin.id, created);
    this.logger.info({ pool: pool.name, pin: pin.id, digest: pool.image.digest, created }, 'pool image pinned for prepull');
  }

  /**
   * Once no pod of an older digest is left: removes the pins the pool made
   * for an earlier reference (a pin of the same reference was superseded,
   * and the prepuller retires it when its rotation is done).
   */
  async dropOld(pool: PoolRecord): Promise<void> {
    for (const id of await this.pools.oldPins(pool.id)) {
      const pin = await this.pins.get(id);
      if (pin && pin.state === 'active' && pin.reference !== pool.image.reference) await this.pins.remove(pin);
      await this.pools.forgetOldPin(pool.id, id);
    }
  }

  /** A drained pool gives up the pin it made. */
  async release(pool: PoolRecord): Promise<void> {
    await this.dropOld(pool);
    if (!pool.pin?.owned) return;
    const pin = await this.pins.get(pool.pin.id);
    if (pin) await this.pins.remove(pin);
  }
}
