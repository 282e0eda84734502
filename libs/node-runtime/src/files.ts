import { randomBytes } from 'node:crypto';
import { access, open, readFile, rename, rm } from 'node:fs/promises';
import type { z } from 'zod';

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Readers see the old file or the new one, never a torn write: the content is
 * written and flushed to a temporary file beside it, then renamed over it.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomSuffix()}`;
  try {
    const handle = await open(tmp, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Runs tasks one at a time, in call order; a failed task does not block the next. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.catch(() => undefined).then(task);
    this.tail = result;
    return result;
  }
}

/**
 * A JSON file this node wrote for itself (a cache, a bundle's notes), read back
 * and validated: missing, unreadable or not matching the schema is undefined,
 * so the caller redoes the work instead of trusting it.
 */
export async function readOwnJson<S extends z.ZodTypeAny>(path: string, schema: S): Promise<z.output<S> | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
