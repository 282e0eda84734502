import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, copyFile, lutimes, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runTool } from './run-tool';

export interface BuildImageOptions {
  /** `host:port` of a plain-HTTP registry, e.g. a LocalRegistry's host. */
  registryHost: string;
  /** Repository name, e.g. `warmpod/hello`. */
  name: string;
  tag: string;
  /** Scratch space; the OCI layout in it is reused by later builds. */
  workDir: string;
  cmd: string[];
  env?: string[];
  /** Extra files, keyed by their path inside the image. */
  files?: Record<string, string>;
  /** Adds a file of random bytes so that an otherwise equal image is distinct. */
  padBytes?: number;
  /**
   * Layers of filler, one each, below the files layer: a big image in
   * several layers. With a `seed` a layer's content (and digest) is the same
   * in every build, so a rebuilt image shares it, as real images share base
   * layers; without one it is random.
   */
  padLayers?: Array<{ bytes: number; seed?: string }>;
  busyboxPath?: string;
}

export const BUSYBOX_APPLETS = ['sh', 'echo', 'cat', 'ls', 'sleep', 'httpd', 'wget', 'env', 'date', 'mkdir', 'touch', 'nc', 'ip'] as const;

const BASE_TAG = 'busybox-base';
const BIG_IMAGE_MS = 15 * 60_000;
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

// umoci rewrites index.json in place: builds sharing a layout go one at a time.
const layoutQueues = new Map<string, Promise<unknown>>();

function serialised<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = layoutQueues.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(task);
  layoutQueues.set(key, next);
  return next;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function findBusybox(explicit?: string): Promise<string> {
  for (const candidate of explicit ? [explicit] : BUSYBOX_CANDIDATES) {
    if (await exists(candidate)) return candidate;
  }
  throw new Error('busybox not found: install busybox-static or pass busyboxPath');
}

async function hasTag(layout: string, tag: string): Promise<boolean> {
  if (!(await exists(join(layout, 'index.json')))) return false;
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests?: Array<{ annotations?: Record<string, string> }>;
  };
  return (index.manifests ?? []).some((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
}

/**
 * The busybox layer every devkit image starts from. Timestamps are fixed so
 * the layer is byte-identical across builds: images share it, as real images
 * share base layers, and caches can show that they fetch it once.
 */
async function ensureBaseImage(layout: string, workDir: string, busyboxPath?: string): Promise<void> {
  if (await hasTag(layout, BASE_TAG)) return;
  if (!(await exists(join(layout, 'oci-layout')))) await runTool('umoci', ['init', '--layout', layout]);
  await runTool('umoci', ['new', '--image', `${layout}:${BASE_TAG}`]);
  const bundle = join(workDir, `bundle-${randomBytes(4).toString('hex')}`);
  try {
    await runTool('umoci', ['unpack', '--image', `${layout}:${BASE_TAG}`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    const bin = join(rootfs, 'bin');
    await mkdir(bin, { recursive: true });
    await copyFile(await findBusybox(busyboxPath), join(bin, 'busybox'));
    for (const applet of BUSYBOX_APPLETS) await symlink('busybox', join(bin, applet));
    const epoch = new Date(0);
    for (const entry of [...BUSYBOX_APPLETS, 'busybox']) await lutimes(join(bin, entry), epoch, epoch);
    await lutimes(bin, epoch, epoch);
    await lutimes(rootfs, epoch, epoch);
    await runTool('umoci', ['repack', '--image', `${layout}:${BASE_TAG}`, bundle]);
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

function imagePath(path: string): string {
  const clean = normalize(path).replace(/^\/+/, '');
  if (clean === '' || clean.startsWith('..')) throw new Error(`image file path "${path}" leaves the image root`);
  return clean;
}

/** Unpacks `from`, lets `change` edit the root, and repacks the result as `to`: one new layer. */
async function addLayer(
  layout: string,
  from: string,
  to: string,
  workDir: string,
  change: (rootfs: string) => Promise<void>,
): Promise<void> {
  const bundle = join(workDir, `bundle-${randomBytes(4).toString('hex')}`);
  try {
    // Generous: a benchmark's image of a GB or more takes minutes to unpack and re-hash here.
    await runTool('umoci', ['unpack', '--image', `${layout}:${from}`, bundle], BIG_IMAGE_MS);
    await change(join(bundle, 'rootfs'));
    await runTool('umoci', ['repack', '--image', `${layout}:${to}`, bundle], BIG_IMAGE_MS);
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

/** Writes `bytes` of filler: a keystream of the seed (the same bytes every time), or random bytes. */
async function writeFiller(path: string, bytes: number, seed?: string): Promise<void> {
  const key = seed === undefined ? randomBytes(32) : createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const chunk = Buffer.alloc(1024 * 1024);
  async function* filler(): AsyncGenerator<Buffer> {
    for (let left = bytes; left > 0; left -= chunk.length) yield cipher.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
  }
  // pipeline: a failed write (a full disk) rejects here instead of crashing the process on an unheard 'error'.
  await pipeline(Readable.from(filler()), createWriteStream(path));
}

/** One filler layer; fixed timestamps so that the same seed gives a byte-identical layer. */
async function addPadLayer(
  layout: string,
  from: string,
  to: string,
  workDir: string,
  index: number,
  pad: { bytes: number; seed?: string },
): Promise<void> {
  await addLayer(layout, from, to, workDir, async (rootfs) => {
    const file = join(rootfs, `pad-layer-${index}.bin`);
    await writeFiller(file, pad.bytes, pad.seed);
    const epoch = new Date(0);
    await lutimes(file, epoch, epoch);
    await lutimes(rootfs, epoch, epoch);
  });
}

/** Adds the caller's files (and padding) as one layer on top of `from`. */
async function addFilesLayer(layout: string, from: string, ref: string, workDir: string, opts: BuildImageOptions): Promise<void> {
  await addLayer(layout, from, ref, workDir, async (rootfs) => {
    for (const [path, content] of Object.entries(opts.files ?? {})) {
      const target = join(rootfs, imagePath(path));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    if (opts.padBytes) await writeFile(join(rootfs, `pad-${opts.padBytes}.bin`), randomBytes(opts.padBytes));
  });
}

/** Asks the registry which digest a tag points at, as admission would. */
export async function resolveDigest(registryHost: string, name: string, tag: string): Promise<string> {
  const res = await fetch(`http://${registryHost}/v2/${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_ACCEPT },
  });
  const digest = res.headers.get('docker-content-digest');
  if (res.status !== 200 || !digest) throw new Error(`registry ${registryHost} has no manifest for ${name}:${tag} (HTTP ${res.status})`);
  return digest;
}

/**
 * Builds a busybox image with umoci (no container engine needed), pushes it
 * with skopeo and returns the manifest digest the registry serves.
 */
export async function buildImage(opts: BuildImageOptions): Promise<string> {
  if (opts.cmd.length === 0) throw new Error(`image ${opts.name}:${opts.tag} needs a command`);
  const layout = join(opts.workDir, 'oci-build');
  const ref = `${opts.name}-${opts.tag}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  await mkdir(opts.workDir, { recursive: true });
  await serialised(layout, async () => {
    await ensureBaseImage(layout, opts.workDir, opts.busyboxPath);
    let from = BASE_TAG;
    for (const [i, pad] of (opts.padLayers ?? []).entries()) {
      await addPadLayer(layout, from, ref, opts.workDir, i, pad);
      from = ref;
    }
    const withFiles = Object.keys(opts.files ?? {}).length > 0 || (opts.padBytes ?? 0) > 0;
    if (withFiles) {
      await addFilesLayer(layout, from, ref, opts.workDir, opts);
      from = ref;
    }
    const built = from === ref;
    const config = [
      'config',
      '--image',
      `${layout}:${from}`,
      ...(built ? [] : ['--tag', ref]),
      ...opts.cmd.map((arg) => `--config.cmd=${arg}`),
      '--config.env=PATH=/bin',
      ...(opts.env ?? []).map((e) => `--config.env=${e}`),
    ];
    await runTool('umoci', config);
    await runTool(
      'skopeo',
      ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${ref}`, `docker://${opts.registryHost}/${opts.name}:${opts.tag}`],
      BIG_IMAGE_MS,
    );
  });
  return resolveDigest(opts.registryHost, opts.name, opts.tag);
}
