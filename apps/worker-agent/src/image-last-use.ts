import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { messageOf, type Logger } from '@warmpod/observability';

const fileSchema = z.record(z.string().regex(/^sha256:[a-f0-9]{64}$/), z.number().int().nonnegative());

/**
 * When each cached digest was last used on this node (a pod started on it,
 * or it was pulled): the order the disk budget evicts in. Kept in a small
 * JSON file beside the cache so the order survives an agent restart; writes
 * are coalesced and atomic.
 */
export class ImageLastUse {
  private readonly uses = new Map<string, number>();
  private saving?: Promise<void>;
  private dirty = false;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the file; a missing or unreadable one starts empty (every digest "never used"). */
  async load(): Promise<void> {
    const raw = await readFile(this.path, 'utf8').catch(() => undefined);
    if (raw === undefined) return;
    try {
      const parsed = fileSchema.safeParse(JSON.parse(raw));
      if (parsed.success) for (const [digest, at] of Object.entries(parsed.data)) this.uses.set(digest, at);
    } catch {
      this.logger.warn({ path: this.path }, 'image last-use file unreadable; starting afresh');
    }
  }

  get(digest: string): number {
    return this.uses.get(digest) ?? 0;
  }

  touch(digest: string): void {
    this.uses.set(digest, this.now());
    this.save();
  }

  forget(digest: string): void {
    if (this.uses.delete(digest)) this.save();
  }

  /** Waits until everything touched so far is on disk. */
  async flush(): Promise<void> {
    while (this.saving) await this.saving;
  }

  private save(): void {
    this.dirty = true;
    this.saving ??= this.writeLoop().finally(() => (this.saving = undefined));
  }

  private async writeLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const tmp = `${this.path}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        await writeFile(tmp, JSON.stringify(Object.fromEntries(this.uses)), { mode: 0o600 });
        await rename(tmp, this.path);
      } catch (error) {
        await rm(tmp, { force: true });
        this.logger.warn({ err: messageOf(error) }, 'image last-use not saved');
      }
    }
  }
}
