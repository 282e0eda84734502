import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One line per path: type, mode, owner, and the link target or content hash. Test code only. */
export async function describeTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const owner = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(path, `dir ${owner}`);
        await walk(path);
      } else if (st.isSymbolicLink()) out.set(path, `symlink ${owner} -> ${await readlink(join(root, path))}`);
      else if (st.isFile())
        out.set(
          path,
          `file ${owner} ${createHash('sha256')
            .update(await readFile(join(root, path)))
            .digest('hex')
            .slice(0, 16)}`,
        );
      else out.set(path, `special ${owner} rdev=${st.rdev}`);
    }
  };
  await walk('');
  return out;
}
