import { spawn } from 'node:child_process';
import { access, readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** What build-vm-assets.sh produced for one kernel version (absolute paths). */
export interface VmAssets {
  dir: string;
  kernelVersion: string;
  kernelPackage: string;
  /** The uncompressed vmlinux (PVH entry) when it could be extracted, else the bzImage. */
  kernel: string;
  bzImage: string;
  initrd: string;
  /** lib/modules/<version> of the unpacked package: the guest's /lib/modules/<version>. */
  modules: string;
}

interface AssetsManifest {
  kernelVersion: string;
  kernelPackage: string;
  kernel: string;
  bzImage: string;
  initrd: string;
  modules: string;
}

/** The package root (tools/vm-node), computed from this file's location at run time. */
export const PACKAGE_DIR = resolve(__dirname, '..');
export const BUILD_ASSETS_SCRIPT = join(PACKAGE_DIR, 'scripts', 'build-vm-assets.sh');
export const GUEST_AGENT_SCRIPT = join(PACKAGE_DIR, 'guest', 'agent.sh');
/** Prepares the guest as a node (data tmpfs, modules, cgroup controllers) and execs the worker agent bundle. */
export const GUEST_WORKER_AGENT_SCRIPT = join(PACKAGE_DIR, 'guest', 'worker-agent.sh');

/** `WARMPOD_VM_ASSETS`, else `<repo>/.warmpod/vm-assets` (git-ignored). */
export function defaultAssetsDir(): string {
  return process.env.WARMPOD_VM_ASSETS ?? resolve(PACKAGE_DIR, '..', '..', '.warmpod', 'vm-assets');
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Reads DIR/current and DIR/<version>/assets.json; throws with the command to run when absent. */
export async function loadVmAssets(assetsDir: string): Promise<VmAssets> {
  const dir = resolve(assetsDir);
  const hint = `run: bash ${BUILD_ASSETS_SCRIPT} ${dir}`;
  let version: string;
  try {
    version = (await readFile(join(dir, 'current'), 'utf8')).trim();
  } catch {
    throw new Error(`no VM assets in ${dir}: ${hint}`);
  }
  // No symlinks in what the guest's stage 1 resolves: it sees the host's / under /lower, not at /.
  const base = await realpath(join(dir, version)).catch(() => join(dir, version));
  if (!(await exists(join(base, '.complete')))) throw new Error(`VM assets for ${version} in ${dir} are incomplete: ${hint}`);
  const manifest = JSON.parse(await readFile(join(base, 'assets.json'), 'utf8')) as AssetsManifest;
  const assets: VmAssets = {
    dir: base,
    kernelVersion: manifest.kernelVersion,
    kernelPackage: manifest.kernelPackage,
    kernel: join(base, manifest.kernel),
    bzImage: join(base, manifest.bzImage),
    initrd: join(base, manifest.initrd),
    modules: join(base, manifest.modules),
  };
  for (const path of [assets.kernel, assets.initrd, assets.modules]) {
    if (!(await exists(path))) throw new Error(`VM asset ${path} is missing: ${hint}`);
  }
  return assets;
}

/**
 * Runs build-vm-assets.sh (idempotent: seconds when everything exists) and loads the result.
 * Needs root for apt-get on a cold build.
 */
export async function buildVmAssets(
  assetsDir: string,
  opts: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<VmAssets & { buildMs: number }> {
  const started = Date.now();
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn('bash', [BUILD_ASSETS_SCRIPT, assetsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const err: string[] = [];
    child.stdout.resume();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err.push(chunk);
      for (const line of chunk.split('\n')) if (line) opts.log?.(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10 * 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else reject(new Error(`build-vm-assets.sh failed (${signal ?? `exit ${code}`}): ${err.join('').slice(-2000)}`));
    });
  });
  return { ...(await loadVmAssets(assetsDir)), buildMs: Date.now() - started };
}
