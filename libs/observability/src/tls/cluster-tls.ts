import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { messageOf } from '../errors';
import type { Logger } from '../logger';
import { parseIdentity, type ClusterIdentity } from './cluster-identity';

/** Where a process finds its cluster TLS material (PEM files). */
export interface TlsPaths {
  /** The CA bundle peers are verified against: one CA, or the old and the new one while a CA rotates. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** Who this process is, from its own certificate's CN (undefined: it names no cluster identity). */
  identity?: ClusterIdentity;
  /** sha256 of the certificate (DER, hex), what logs name it by. */
  fingerprint: string;
  validTo: string;
}

export class TlsMaterialError extends Error {
  override readonly name = 'TlsMaterialError';
}

async function readPem(what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TlsMaterialError(`cannot read the TLS ${what} ${path}: ${messageOf(error)}`);
  }
}

/** Reads and checks one set of files: every PEM parses and the key belongs to the certificate. */
export async function readTlsMaterial(paths: TlsPaths): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all([
    readPem('CA bundle', paths.caFile),
    readPem('certificate', paths.certFile),
    readPem('key', paths.keyFile),
  ]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    createSecureContext({ ca, cert, key });
  } catch (error) {
    throw new TlsMaterialError(
      `TLS material ${paths.certFile} (key ${paths.keyFile}, CA ${paths.caFile}) is not usable: ${messageOf(error)}`,
    );
  }
  const cn = /^CN=(.*)$/m.exec(x509.subject)?.[1];
  return {
    ca,
    cert,
    key,
    ...(cn !== undefined && parseIdentity(cn) ? { identity: parseIdentity(cn) } : {}),
    fingerprint: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
    validTo: x509.validTo,
  };
}

export interface ClusterTlsOptions {
  /** How often the files are re-read for a rotation. */
  reloadMs: number;
  logger: Logger;
}

/**
 * A process's cluster TLS material, kept current: the files are re-read
 * every `reloadMs` (polling, because a Kubernetes Secret or a cert-manager
 * volume swaps a symlink rather than writing the files), and listeners hear
 * of each complete, consistent new set. A half-written rotation (a new
 * certificate with the old key) is not taken: the old material stays until
 * the set is consistent again.
 */
export class ClusterTls {
  private material: TlsMaterial;
  private contentHash: string;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private timer?: NodeJS.Timeout;
  private reloading = false;
  private refusedHash?: string;

  private constructor(
    readonly paths: TlsPaths,
    first: { material: TlsMaterial; hash: string },
    private readonly opts: ClusterTlsOptions,
  ) {
    this.material = first.material;
    this.contentHash = first.hash;
  }

  /** Reads the files once (a clear error when they are missing or inconsistent) and starts watching them. */
  static async load(paths: TlsPaths, opts: ClusterTlsOptions): Promise<ClusterTls> {
    const material = await readTlsMaterial(paths);
    const tls = new ClusterTls(paths, { material, hash: hashOf(material) }, opts);
    tls.timer = setInterval(() => void tls.reload(), opts.reloadMs).unref();
    return tls;
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** `listener` hears of every new material; returns the unsubscribe. */
  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files now (the timer does it every `reloadMs`); true when new material was taken. */
  async reload(): Promise<boolean> {
    if (this.reloading) return false;
    this.reloading = true;
    try {
      const raw = await Promise.all([readFile(this.paths.caFile), readFile(this.paths.certFile), readFile(this.paths.keyFile)]).catch(
        () => undefined,
      );
      if (!raw) return false;
      const hash = hashOf({ ca: raw[0], cert: raw[1], key: raw[2] });
      if (hash === this.contentHash || hash === this.refusedHash) return false;
      let next: TlsMaterial;
      try {
        next = await readTlsMaterial(this.paths);
      } catch (error) {
        this.refusedHash = hash;
        this.opts.logger.warn({ err: messageOf(error) }, 'new TLS material is not usable yet; keeping the current one');
        return false;
      }
      this.material = next;
      this.contentHash = hashOf(next);
      this.opts.logger.info({ identity: next.identity, fingerprint: next.fingerprint, validTo: next.validTo }, 'TLS material rotated');
      for (const listener of this.listeners) listener(next);
      return true;
    } finally {
      this.reloading = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }
}

function hashOf(m: Pick<TlsMaterial, 'ca' | 'cert' | 'key'>): string {
  return createHash('sha256').update(m.ca).update('\0').update(m.cert).update('\0').update(m.key).digest('hex');
}
