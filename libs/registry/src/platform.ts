import { z } from 'zod';
import type { Descriptor, ImageIndex } from './manifest';
import { isIndexMediaType } from './media-types';

/** An OCI platform as image indexes name it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const NODE_TO_OCI_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Node's name for a CPU architecture (`process.arch`) in OCI's spelling. */
export function ociArchitecture(nodeArch: string = process.arch): string {
  return NODE_TO_OCI_ARCH[nodeArch] ?? nodeArch;
}

/** linux on this machine's architecture: what an agent runs, and the default a local control plane assumes. */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: ociArchitecture() };
}

const PLATFORM = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/;

/** `os/architecture[/variant]`, as `docker --platform` spells it (`linux/arm64`, `linux/arm/v7`). */
export function parsePlatform(text: string): Platform | undefined {
  const m = PLATFORM.exec(text);
  if (!m) return undefined;
  return { os: m[1]!, architecture: m[2]!, ...(m[3] ? { variant: m[3] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * The one rule that narrows an image index to one image: the first manifest
 * for the platform's os and architecture (and variant, when one is asked
 * for). The gateway (layers recorded at admission, for placement) and the
 * agent's cache (what it pulls) both choose through it, so the bytes placement
 * counts are the bytes the node fetches, as long as both are given the
 * platform the nodes run.
 */
export function platformManifest(index: ImageIndex, platform: Platform): Descriptor | undefined {
  return index.manifests.find(
    (m) =>
      m.platform?.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      (platform.variant === undefined || m.platform.variant === platform.variant),
  );
}

/** Just enough of any manifest body to tell an index from an image manifest. */
const manifestShape = z.object({ mediaType: z.string().optional(), manifests: z.array(z.unknown()).optional() });

/**
 * Whether a fetched manifest is an index (manifest list): the body's own
 * mediaType is authoritative, the Content-Type header the fallback, and a
 * `manifests` array settles untyped bodies.
 */
export function isImageIndex(json: unknown, contentType: string): boolean {
  const body = manifestShape.safeParse(json);
  return isIndexMediaType(declaredMediaType(json, contentType)) || (body.success && body.data.manifests !== undefined);
}

/** The manifest's media type: its body's `mediaType` when it names one, else the Content-Type header. */
export function declaredMediaType(json: unknown, contentType: string): string {
  const body = manifestShape.safeParse(json);
  return body.success && body.data.mediaType ? body.data.mediaType : contentType;
}
