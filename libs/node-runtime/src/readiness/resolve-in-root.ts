import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_LINKS = 40;

/**
 * Resolves `path` as a process chrooted at `root` would: `..` stops at the
 * root and symlinks, absolute or relative, are followed inside it, so a link
 * in the container (`/ready -> /etc/shadow`) never reaches the host's files.
 * Returns the host path of the final target, or undefined when something on
 * the way does not exist (or the links loop).
 */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const pending = components(path);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    const st = await lstat(candidate).catch(() => undefined);
    if (st === undefined) return undefined;
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...components(target));
  }
  return join(root, ...resolved);
}

function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
