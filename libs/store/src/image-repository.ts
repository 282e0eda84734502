import type { Redis } from 'ioredis';
import { z } from 'zod';
import { Keys } from './keys';
import { prepullHintsChannel } from './prepull-hints';

export interface ImageLayers {
  sizeBytes: number;
  layers: Array<{ digest: string; sizeBytes: number }>;
}

const schema = z.object({
  sizeBytes: z.number().int().nonnegative(),
  layers: z.array(z.object({ digest: z.string(), sizeBytes: z.number().int().nonnegative() })),
});

/**
 * What a pinned digest is made of (its layers), recorded at admission so
 * placement can count the bytes a node still has to fetch. A digest's
 * content never changes, so the record is written once and cached freely.
 */
export class ImageRepository {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async record(digest: string, image: ImageLayers): Promise<void> {
    await this.redis.set(this.keys.image(digest), JSON.stringify(image), 'NX');
  }

  async get(digest: string): Promise<ImageLayers | undefined> {
    const raw = await this.redis.get(this.keys.image(digest));
    if (!raw) return undefined;
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  }
}

/** Digests no node holds, for the prepuller to warm (score: first asked for). */
export class PrepullHints {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async hint(pinned: string): Promise<void> {
    const added = await this.redis.zadd(this.keys.prepullHints(), 'NX', Date.now(), pinned);
    // Announced so the prepuller acts at once rather than at its next safety pass.
    if (Number(added) === 1) await this.redis.publish(prepullHintsChannel(this.keys.prefix), pinned);
  }

  async list(): Promise<string[]> {
    return this.redis.zrange(this.keys.prepullHints(), 0, -1);
  }
}
