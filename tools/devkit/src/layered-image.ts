import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BUSYBOX_APPLETS, findBusybox, resolveDigest } from './image-builder';
import { runTool } from './run-tool';
import { writeTar, type TarSpecEntry } from './tar-writer';

export interface LayeredImageOptions {
  registryHost: string;
  name: string;
  tag: string;
  workDir: string;
  /** Each layer's tar entries, bottom layer first. */
  layers: ReadonlyArray<readonly TarSpecEntry[]>;
  /** Each layer's compression, bottom first (default gzip): zstd runs the system `zstd` program. */
  compression?: ReadonlyArray<LayerCompression>;
  cmd?: string[];
}

export type LayerCompression = 'gzip' | 'zstd';

const LAYER_MEDIA: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** `data` compressed by the system `zstd` program (Node's zlib has none). */
export function zstdCompress(data: Buffer, level = 3): Buffer {
  const run = spawnSync('zstd', [`-${level}`, '-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  if (run.error) throw new Error(`zstd could not be run: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`zstd failed (exit ${run.status}): ${run.stderr.toString().trim()}`);
  return run.stdout;
}

export interface LayeredImage {
  /** Manifest digest the registry serves. */
  digest: string;
  /** An OCI layout holding the image under `ref`, for `umoci unpack`. */
  layoutDir: string;
  ref: string;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

function blobDigest(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/**
 * An image made of exactly the given layers (tars written here, not diffed by
 * a tool): the hard cases of layer unpacking, pushed with skopeo and kept in
 * an OCI layout so `umoci unpack` can give the reference root.
 */
export async function buildLayeredImage(opts: LayeredImageOptions): Promise<LayeredImage> {
  const ref = `${opts.name}-${opts.tag}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  const layoutDir = join(opts.workDir, `layered-${ref}`);
  await rm(layoutDir, { recursive: true, force: true });
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const put = async (body: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = blobDigest(body);
    await writeFile(join(layoutDir, 'blobs', 'sha256', digest.slice(7)), body);
    return { digest, size: body.length };
  };
  const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIds: string[] = [];
  for (const [i, entries] of opts.layers.entries()) {
    const tar = writeTar(entries);
    diffIds.push(blobDigest(tar));
    const compression = opts.compression?.[i] ?? 'gzip';
    const blob = compression === 'zstd' ? zstdCompress(tar) : gzipSync(tar);
    layers.push({ mediaType: LAYER_MEDIA[compression], ...(await put(blob)) });
  }
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: ARCH[process.arch] ?? process.arch,
        os: 'linux',
        config: { Cmd: opts.cmd ?? ['sh'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    ),
  );
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      }),
    ),
  );
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } },
      ],
    }),
  );
  await runTool('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layoutDir}:${ref}`,
    `docker://${opts.registryHost}/${opts.name}:${opts.tag}`,
  ]);
  return { digest: await resolveDigest(opts.registryHost, opts.name, opts.tag), layoutDir, ref };
}

const T = 1_600_000_000;

/**
 * Layers exercising what unpacking gets wrong most easily: a file whiteout, a
 * whole-directory whiteout, an opaque directory, hard links within a layer and
 * to a lower layer, a layer that only changes metadata, an empty layer.
 */
export function hardCaseLayers(): TarSpecEntry[][] {
  return [
    [
      { name: 'etc', type: 'dir', mtime: T },
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', mtime: T },
      { name: 'etc/group', content: 'root:x:0:\napp:x:1000:\n', mtime: T },
      { name: 'bin', type: 'dir', mtime: T },
      { name: 'bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755, uid: 1000, gid: 1000, mtime: T },
      { name: 'bin/tool-link', type: 'symlink', linkname: 'tool', mtime: T },
      { name: 'data', type: 'dir', mode: 0o775, uid: 1000, gid: 1000, mtime: T },
      { name: 'data/gone.txt', content: 'deleted above', mtime: T },
      { name: 'data/kept.txt', content: 'kept', mtime: T },
      { name: 'data/replaced', type: 'dir', mtime: T },
      { name: 'data/replaced/old-1', content: 'old 1', mtime: T },
      { name: 'data/replaced/sub', type: 'dir', mtime: T },
      { name: 'data/replaced/sub/old-2', content: 'old 2', mtime: T },
      { name: 'usr', type: 'dir', mtime: T },
      { name: 'usr/share', type: 'dir', mtime: T },
      { name: 'usr/share/doc', type: 'dir', mtime: T },
      { name: 'usr/share/doc/readme', content: 'removed with its directory', mtime: T },
      { name: 'opt', type: 'dir', mtime: T },
      { name: 'opt/conf', content: 'metadata changes above', mode: 0o644, mtime: T },
      { name: 'run/setuid', content: 'sbit', mode: 0o4755, mtime: T },
    ],
    [
      { name: 'data', type: 'dir', mode: 0o775, uid: 1000, gid: 1000, mtime: T + 1 },
      { name: 'data/.wh.gone.txt', mtime: T + 1 },
      { name: 'data/replaced', type: 'dir', mode: 0o750, mtime: T + 1 },
      { name: 'data/replaced/.wh..wh..opq', mtime: T + 1 },
      { name: 'data/replaced/new', content: 'only this is left', mtime: T + 1 },
      { name: 'bin', type: 'dir', mtime: T + 1 },
      { name: 'bin/tool-hard', type: 'hardlink', linkname: 'bin/tool', mtime: T + 1 },
      { name: 'lib', type: 'dir', mtime: T + 1 },
      { name: 'lib/one', content: 'linked twice', mode: 0o600, uid: 7, gid: 8, mtime: T + 1 },
      { name: 'lib/two', type: 'hardlink', linkname: 'lib/one', mtime: T + 1 },
    ],
    [
      { name: 'opt', type: 'dir', mtime: T + 2 },
      { name: 'opt/conf', content: 'metadata changes above', mode: 0o600, uid: 1000, gid: 1000, mtime: T + 2 },
    ],
    [],
    [
      { name: 'usr', type: 'dir', mtime: T + 4 },
      { name: 'usr/.wh.share', mtime: T + 4 },
      { name: 'usr/local', type: 'dir', mtime: T + 4 },
      { name: 'usr/local/after', content: 'after the whiteout', mtime: T + 4 },
    ],
  ];
}

/** A layer with a static busybox and its applets in /bin: what makes a layered image runnable. */
export async function busyboxLayer(busyboxPath?: string): Promise<TarSpecEntry[]> {
  const busybox = await readFile(await findBusybox(busyboxPath));
  return [
    { name: 'bin', type: 'dir', mtime: T },
    { name: 'bin/busybox', content: busybox, mode: 0o755, mtime: T },
    ...BUSYBOX_APPLETS.map((applet): TarSpecEntry => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox', mtime: T })),
  ];
}
