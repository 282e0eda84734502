import { copyFile, cp, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { PACKAGE_DIR } from './assets';

/**
 * The worker agent as one JS file for the VM node. Loading its module graph (NestJS, BullMQ,
 * ioredis, gRPC: ~1,200 files) through the guest's 9p root took 20-50 s under TCG; one file is
 * one read. Built from the agent's tsc output, so `tsc -b` must run first.
 */
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');
export const WORKER_AGENT_BUNDLE_DIR = join(PACKAGE_DIR, 'dist', 'worker-agent-bundle');
/** bin/ beside proto/: libs/node-registry finds its .proto at `__dirname/../proto`, which in a bundle is this file's dir. */
export const WORKER_AGENT_BUNDLE = join(WORKER_AGENT_BUNDLE_DIR, 'bin', 'worker-agent.js');
const AGENT_ENTRY = join(REPO_ROOT, 'apps', 'worker-agent', 'dist', 'main.js');
const REGISTRY_PROTO = join(REPO_ROOT, 'libs', 'node-registry', 'proto', 'node_registry.proto');
const INPUTS = join(WORKER_AGENT_BUNDLE_DIR, 'inputs.json');
/** libs/store reads its scripts at `__dirname/../src/lua`, which in a bundle is `src/lua` beside bin/. */
const STORE_LUA = join(REPO_ROOT, 'libs', 'store', 'src', 'lua');

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
];

export interface AgentBundle {
  path: string;
  bytes: number;
  /** 0 when an up-to-date bundle was kept. */
  buildMs: number;
}

/** Bundles the worker agent (esbuild, Node 20, CommonJS, not minified so stack traces read). */
export async function bundleWorkerAgent(): Promise<AgentBundle> {
  const started = Date.now();
  await stat(AGENT_ENTRY).catch(() => {
    throw new Error(`${AGENT_ENTRY} is missing: build first (npx tsc -b tsconfig.build.json)`);
  });
  await mkdir(join(WORKER_AGENT_BUNDLE_DIR, 'bin'), { recursive: true });
  await mkdir(join(WORKER_AGENT_BUNDLE_DIR, 'proto'), { recursive: true });
  const tmp = `${WORKER_AGENT_BUNDLE}.${process.pid}.tmp`;
  const result = await build({
    entryPoints: [AGENT_ENTRY],
    absWorkingDir: REPO_ROOT,
    outfile: tmp,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: OPTIONAL_PEERS,
    metafile: true,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) throw new Error(`esbuild warnings: ${result.warnings.map((w) => w.text).join('; ')}`);
  await copyFile(REGISTRY_PROTO, join(WORKER_AGENT_BUNDLE_DIR, 'proto', 'node_registry.proto'));
  await cp(STORE_LUA, join(WORKER_AGENT_BUNDLE_DIR, 'src', 'lua'), { recursive: true });
  const luaFiles = (await readdir(STORE_LUA, { recursive: true })).filter((f) => f.endsWith('.lua')).map((f) => join(STORE_LUA, f));
  const inputs = [...Object.keys(result.metafile.inputs).map((p) => resolve(REPO_ROOT, p)), REGISTRY_PROTO, ...luaFiles];
  await writeFile(INPUTS, JSON.stringify(inputs));
  // Renamed last: a reader sees the old bundle or the new one, never half of one.
  await rename(tmp, WORKER_AGENT_BUNDLE);
  return { path: WORKER_AGENT_BUNDLE, bytes: (await stat(WORKER_AGENT_BUNDLE)).size, buildMs: Date.now() - started };
}

/** The bundle, rebuilt when it is missing or older than any file it was built from. */
export async function ensureWorkerAgentBundle(): Promise<AgentBundle> {
  try {
    const bundle = await stat(WORKER_AGENT_BUNDLE);
    const inputs = JSON.parse(await readFile(INPUTS, 'utf8')) as unknown;
    if (!Array.isArray(inputs)) throw new Error('bad inputs list');
    for (const input of inputs) {
      if (typeof input !== 'string' || (await stat(input)).mtimeMs > bundle.mtimeMs) throw new Error('stale');
    }
    return { path: WORKER_AGENT_BUNDLE, bytes: bundle.size, buildMs: 0 };
  } catch {
    return bundleWorkerAgent();
  }
}
