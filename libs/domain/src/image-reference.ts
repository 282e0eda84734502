/**
 * Image references, parsed the way the distribution spec's reference grammar
 * does, and the pinned form that everything after admission uses.
 */

export interface ImageReference {
  /** Registry host, with port when one was given (e.g. `127.0.0.1:5000`). */
  registry: string;
  /** Repository path inside the registry, lower case (e.g. `team/app`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export interface PinnedImage {
  /** The reference exactly as the client sent it. */
  requested: string;
  /** `registry/repository@sha256:...`: the only form used downstream. */
  pinned: string;
  digest: string;
  registry: string;
  repository: string;
}

export class InvalidReferenceError extends Error {
  override readonly name = 'InvalidReferenceError';
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** A first path component names a registry when it looks like a host. */
function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/**
 * Parses `[registry/]repo[:tag][@digest]`. References without a registry use
 * `defaultRegistry`; with neither tag nor digest the tag is `latest`.
 */
export function parseImageReference(input: string, defaultRegistry: string): ImageReference {
  const shown = input.length > 80 ? `${input.slice(0, 77)}...` : input;
  const fail = (why: string): never => {
    throw new InvalidReferenceError(`image reference "${shown}" ${why}`);
  };
  if (input.length === 0) fail('is empty');
  if (input.length > 512) fail('is longer than 512 characters');
  if (/\s/.test(input)) fail('contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      fail('has an invalid digest (expected sha256: and 64 lower-case hex characters)');
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) fail(`has an invalid tag "${tag}"`);
  }

  const parts = rest.split('/');
  let registry = defaultRegistry;
  if (parts.length > 1 && looksLikeRegistry(parts[0]!)) {
    registry = parts.shift()!;
    const port = registry.includes(':') ? Number(registry.slice(registry.lastIndexOf(':') + 1)) : 1;
    if (!DOMAIN.test(registry) || port < 1 || port > 65535) fail(`has an invalid registry host "${registry}"`);
  }
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      fail(
        part.toLowerCase() !== part
          ? `has an upper-case repository name "${part}" (repository names must be lower case)`
          : `has an invalid repository component "${part}"`,
      );
    }
  }
  let repository = parts.join('/');
  if (registry === 'docker.io' && parts.length === 1) repository = `library/${repository}`;
  if (repository.length > MAX_NAME) fail(`has a repository name longer than ${MAX_NAME} characters`);

  if (!tag && !digest) tag = 'latest';
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference the registry is asked about: the digest wins over the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function pin(requested: string, ref: ImageReference, digest: string): PinnedImage {
  if (!DIGEST.test(digest)) {
    throw new InvalidReferenceError(`registry returned an invalid digest "${digest}"`);
  }
  if (ref.digest && ref.digest !== digest) {
    // A reference that names a digest must resolve to exactly that digest.
    throw new InvalidReferenceError(`image reference "${requested}" names ${ref.digest} but the registry serves ${digest}`);
  }
  return {
    requested,
    pinned: `${ref.registry}/${ref.repository}@${digest}`,
    digest,
    registry: ref.registry,
    repository: ref.repository,
  };
}

/** Parses a pinned reference back into its parts; refuses anything with a tag. */
export function parsePinned(pinned: string): { registry: string; repository: string; digest: string } {
  const at = pinned.indexOf('@');
  const slash = pinned.indexOf('/');
  if (at < 0 || slash < 0 || slash > at) throw new InvalidReferenceError(`"${pinned}" is not a pinned reference`);
  const digest = pinned.slice(at + 1);
  if (!DIGEST.test(digest)) throw new InvalidReferenceError(`"${pinned}" has an invalid digest`);
  const registry = pinned.slice(0, slash);
  const repository = pinned.slice(slash + 1, at);
  if (repository.includes(':')) throw new InvalidReferenceError(`"${pinned}" carries a tag`);
  return { registry, repository, digest };
}
