import { cp, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

/** Optional peers NestJS and msgpackr try to load and do without: never bundled, never needed. */
const OPTIONAL_PEERS = [
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@nestjs/platform-express',
  'class-validator',
  'class-transformer',
  'msgpackr-extract',
  '@fastify/view',
];

/** Top-level folders of a workspace package that are code or build output, never run-time assets. */
const NOT_ASSETS = new Set(['src', 'dist', 'node_modules', 'testing']);

export interface BundleOptions {
  repoRoot: string;
  /** The app's folder under the repo, e.g. `apps/gateway`. */
  app: string;
  /** Output root: `bin/<name>.js`, the asset folders beside `bin/`, `node_modules/` for shipped packages. */
  outDir: string;
  name: string;
  /** Packages read from disk at run time (not bundleable): kept external and copied whole. */
  shippedPackages?: readonly string[];
  /**
   * Worker-thread scripts the app starts by file name (`dist/.../x.js`, from the repo root), each
   * bundled on its own as `bin/x.js`: the code that starts them looks beside its own file.
   */
  workerScripts?: readonly string[];
}

export interface Bundle {
  entry: string;
  /** The bundled worker scripts, beside the entry. */
  workers: string[];
  bytes: number;
  /** Asset folders copied, as `<package>/<folder>`. */
  assets: string[];
}

/**
 * The workspace packages (their folders relative to the repo) that esbuild's
 * metafile says went into the bundle: their asset folders must travel with it.
 */
export function workspacePackagesOf(inputs: readonly string[], workspaceRoots: readonly string[] = ['libs', 'apps']): string[] {
  const found = new Set<string>();
  for (const input of inputs) {
    const parts = input.split(/[\\/]/);
    // node_modules paths of workspace links are resolved by esbuild to the real folder, so `libs/x/...` is enough.
    if (parts.length >= 3 && workspaceRoots.includes(parts[0]!) && !parts.includes('node_modules')) found.add(`${parts[0]}/${parts[1]}`);
  }
  return [...found].sort();
}

/** Asset folders of one package: every top-level folder that is not code, output or hidden. */
export function assetFolders(entries: ReadonlyArray<{ name: string; isDirectory: boolean }>): string[] {
  return entries
    .filter((e) => e.isDirectory && !e.name.startsWith('.') && !NOT_ASSETS.has(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * One app as one CommonJS file for Node 20 (and each of its worker scripts as one more) (esbuild, from its tsc output, not
 * minified so stack traces read), plus the asset folders of every workspace
 * package in it. Libraries find their assets at `__dirname/../<folder>`
 * (libs/node-registry: `proto/`), which in the bundle is `outDir/<folder>`.
 */
export async function bundleApp(opts: BundleOptions): Promise<Bundle> {
  const entryPoint = join(opts.repoRoot, opts.app, 'dist', 'main.js');
  await stat(entryPoint).catch(() => {
    throw new Error(`${relative(opts.repoRoot, entryPoint)} is missing: build first (npx tsc -b tsconfig.build.json)`);
  });
  await rm(opts.outDir, { recursive: true, force: true });
  const entry = join(opts.outDir, 'bin', `${opts.name}.js`);
  const shipped = opts.shippedPackages ?? [];
  // One build, one output per entry point (no code splitting: each file stands alone in bin/).
  const entryPoints: Record<string, string> = { [opts.name]: entryPoint };
  for (const script of opts.workerScripts ?? []) {
    const from = join(opts.repoRoot, script);
    await stat(from).catch(() => {
      throw new Error(`${script} is missing: build first (npx tsc -b tsconfig.build.json)`);
    });
    const name = basename(script, '.js');
    if (name in entryPoints) throw new Error(`${script}: a second bin/${name}.js in the ${opts.name} bundle`);
    entryPoints[name] = from;
  }
  const result = await build({
    entryPoints,
    absWorkingDir: opts.repoRoot,
    outdir: join(opts.outDir, 'bin'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: [...OPTIONAL_PEERS, ...shipped],
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) throw new Error(`esbuild warnings for ${opts.app}: ${result.warnings.map((w) => w.text).join('; ')}`);
  const workers = Object.keys(entryPoints)
    .filter((name) => name !== opts.name)
    .map((name) => join(opts.outDir, 'bin', `${name}.js`));

  const assets: string[] = [];
  for (const pkg of workspacePackagesOf(Object.keys(result.metafile.inputs))) {
    const entries = await readdir(join(opts.repoRoot, pkg), { withFileTypes: true });
    for (const folder of assetFolders(entries.map((e) => ({ name: e.name, isDirectory: e.isDirectory() })))) {
      const target = join(opts.outDir, folder);
      if (folder === 'bin' || folder === 'node_modules') throw new Error(`${pkg}/${folder}: an asset folder may not be named ${folder}`);
      // Two packages may share a folder name (both have `proto/`): files merge, a clash is an error.
      await cp(join(opts.repoRoot, pkg, folder), target, { recursive: true, errorOnExist: true, force: false });
      assets.push(`${pkg}/${folder}`);
    }
  }
  for (const name of shipped) {
    const from = dirname(require.resolve(`${name}/package.json`, { paths: [join(opts.repoRoot, opts.app)] }));
    await cp(from, join(opts.outDir, 'node_modules', ...name.split('/')), { recursive: true });
  }
  return { entry, workers, bytes: (await stat(entry)).size, assets };
}
