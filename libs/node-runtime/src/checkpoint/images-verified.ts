import { readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../files';

/**
 * The verification cache. After a full sha256 check of a checkpoint's images
 * passes, each file's identity (dev, inode, size, mtime ns, ctime ns) is
 * recorded beside the images dir (`criu.verified.json` next to `criu/`: never
 * inside it, whose every file travels in the registry artifact). A later
 * same-node restore whose files all still have those identities skips the
 * hashing (~4 s for a 256 MiB checkpoint on a loaded node).
 *
 * What it still catches: anything done to a file through the file system —
 * truncation, a partial overwrite, a rewrite that restores the mtime (ctime
 * moves; only root setting the clock back could forge it), replacement by
 * rename (new inode), deletion. What it gives up: damage below the file
 * system (bit rot, writes to the block device) and tampering by someone who
 * controls the clock, i.e. root on the node, who can replace the agent anyway.
 * Those are caught only by the first full verification after the record goes
 * away. A file whose ctime is within RACY_MS of the verification is not
 * trusted (a write in the same timestamp tick would keep its ctime, as with
 * git's "racily clean" index). The checkpointer records the identities it
 * hashed for the manifest (CRIU, the only writer, has exited), so even the
 * first restore of a checkpoint on its own node is not hashed again.
 */
const RECORD_SUFFIX = '.verified.json';
const RACY_MS = 1000n;

const recordSchema = z.object({ version: z.literal(1), files: z.record(z.string(), z.string()) });

export function verifiedRecordPath(imagesDir: string): string {
  return join(dirname(imagesDir), `${basename(imagesDir)}${RECORD_SUFFIX}`);
}

/** `dev:ino:size:mtimeNs:ctimeNs`, undefined when the file cannot be stat'ed. */
async function identity(path: string): Promise<{ id: string; ctimeNs: bigint } | undefined> {
  const s = await stat(path, { bigint: true }).catch(() => undefined);
  if (s === undefined || !s.isFile()) return undefined;
  return { id: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, ctimeNs: s.ctimeNs };
}

/** The identities of `names` in `imagesDir` (undefined if one is missing); `names` must include the manifest. */
export async function identities(imagesDir: string, names: string[]): Promise<Record<string, string> | undefined> {
  // All at once: one round trip through the thread pool instead of one per file (it counts on a busy agent).
  const got = await Promise.all(names.map((name) => identity(join(imagesDir, name))));
  const out: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    const id = got[i]?.id;
    if (id === undefined) return undefined;
    out[name] = id;
  }
  return out;
}

/** True when a record exists for exactly these names and every file still has its recorded identity. */
export async function unchangedSinceVerified(imagesDir: string, names: string[]): Promise<boolean> {
  const text = await readFile(verifiedRecordPath(imagesDir), 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  let recorded: Record<string, string>;
  try {
    recorded = recordSchema.parse(JSON.parse(text)).files;
  } catch {
    return false;
  }
  if (Object.keys(recorded).length !== names.length) return false;
  const now = await identities(imagesDir, names);
  return now !== undefined && names.every((n) => recorded[n] === now[n]);
}

/**
 * Records `before` (the identities taken before hashing) when the files still
 * have them after hashing and none changed within RACY_MS of `startedNs`
 * (wall clock, ns). Without `startedNs` (the checkpointer, right after CRIU
 * wrote the images and exited: no writer is left) recent files are recorded
 * too. Returns whether it wrote the record.
 */
export async function recordVerified(imagesDir: string, before: Record<string, string>, startedNs?: bigint): Promise<boolean> {
  const names = Object.keys(before);
  const after = await identities(imagesDir, names);
  if (after === undefined || names.some((n) => after[n] !== before[n])) return false;
  const racyFrom = startedNs === undefined ? undefined : startedNs - RACY_MS * 1_000_000n;
  if (racyFrom !== undefined && names.some((n) => BigInt(before[n].split(':')[4] ?? '0') >= racyFrom)) return false;
  await writeFileAtomic(verifiedRecordPath(imagesDir), JSON.stringify({ version: 1, files: before }), 0o600);
  return true;
}

/** Clears the record (before a full verification, so a failed one leaves none behind). */
export async function forgetVerified(imagesDir: string): Promise<void> {
  await rm(verifiedRecordPath(imagesDir), { force: true });
}
