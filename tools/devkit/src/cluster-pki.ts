import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './run-tool';

/** One issued certificate with the CA bundle it chains to: what a process's WARMPOD_TLS_* name. */
export interface IssuedCert {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  /** File name stem under `<dir>/issued/` (default: the CN with ":" turned into "-"). */
  name?: string;
  notBefore?: Date;
  /** Default: 365 days after `notBefore`. */
  notAfter?: Date;
}

const DAY_MS = 86_400_000;

/**
 * A cluster CA made with Debian's openssl, kept in one directory (the local
 * cluster's lives under `.warmpod/`): `ca.crt` and `ca.key`, created once
 * and reused, and certificates issued under `issued/`. Keys are EC P-256,
 * mode 0600. Certificates name their holder in the CN (`node:<id>`,
 * `service:<name>`, `operator:<name>`) and serve both as server and client
 * certificates. Any validity window can be issued (the tests need an expired
 * one), which is why signing goes through `openssl ca`.
 */
export class ClusterPki {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  private get caKeyFile(): string {
    return join(this.dir, 'ca.key');
  }

  /** Opens the CA in `dir`, creating it (10 years) when there is none. */
  static async open(dir: string, subject = 'warmpod cluster CA'): Promise<ClusterPki> {
    const pki = new ClusterPki(dir);
    await mkdir(join(dir, 'issued'), { recursive: true, mode: 0o700 });
    await mkdir(join(dir, 'ca-db'), { recursive: true, mode: 0o700 });
    if (!(await exists(pki.caFile)) || !(await exists(pki.caKeyFile))) {
      await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pki.caKeyFile]);
      await chmod(pki.caKeyFile, 0o600);
      await openssl([
        'req',
        '-x509',
        '-new',
        '-key',
        pki.caKeyFile,
        '-subj',
        `/CN=${subject}`,
        '-days',
        '3650',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        pki.caFile,
      ]);
    }
    await writeFile(join(dir, 'ca-db', 'index.txt'), '', { flag: 'a' });
    await writeFile(join(dir, 'ca-db', 'openssl.cnf'), caConfig(join(dir, 'ca-db')));
    return pki;
  }

  /** The CA certificate (PEM), e.g. to build a bundle of two CAs during a rotation. */
  caPem(): Promise<string> {
    return readFile(this.caFile, 'utf8');
  }

  /** Issues a certificate for `commonName`; a second issue under the same name replaces the files (a rotation). */
  issue(commonName: string, opts: IssueOptions = {}): Promise<IssuedCert> {
    const next = this.queue.then(() => this.issueNow(commonName, opts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Where `issue(commonName, {name})` puts its files (they exist once it was issued). */
  static issuedPaths(dir: string, commonName: string, name?: string): IssuedCert {
    const stem = join(dir, 'issued', name ?? commonName.replace(/[^A-Za-z0-9.-]/g, '-'));
    return { caFile: join(dir, 'ca.crt'), certFile: `${stem}.crt`, keyFile: `${stem}.key` };
  }

  /** The environment that points a warmpod process at an issued certificate. */
  static env(cert: IssuedCert): Record<string, string> {
    return { WARMPOD_TLS_CA_FILE: cert.caFile, WARMPOD_TLS_CERT_FILE: cert.certFile, WARMPOD_TLS_KEY_FILE: cert.keyFile };
  }

  private async issueNow(commonName: string, opts: IssueOptions): Promise<IssuedCert> {
    const { certFile, keyFile } = ClusterPki.issuedPaths(this.dir, commonName, opts.name);
    const csrFile = keyFile.replace(/\.key$/, '.csr');
    const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 365 * DAY_MS);
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${keyFile}.new`]);
    await chmod(`${keyFile}.new`, 0o600);
    await openssl(['req', '-new', '-key', `${keyFile}.new`, '-subj', `/CN=${commonName}`, '-out', csrFile]);
    await openssl([
      'ca',
      '-batch',
      '-config',
      join(this.dir, 'ca-db', 'openssl.cnf'),
      '-cert',
      this.caFile,
      '-keyfile',
      this.caKeyFile,
      '-in',
      csrFile,
      '-out',
      `${certFile}.new`,
      '-startdate',
      asn1Time(notBefore),
      '-enddate',
      asn1Time(notAfter),
      '-extensions',
      'leaf',
      '-notext',
      '-rand_serial',
    ]);
    // Key and certificate are renamed in one after the other; readers take a set only once it is consistent.
    await rename(`${keyFile}.new`, keyFile);
    await rename(`${certFile}.new`, certFile);
    await rm(csrFile, { force: true });
    return { caFile: this.caFile, certFile, keyFile };
  }
}

function caConfig(dir: string): string {
  return `[ ca ]
default_ca = local
[ local ]
database = ${join(dir, 'index.txt')}
new_certs_dir = ${dir}
serial = ${join(dir, 'serial')}
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
`;
}

/** openssl ca's date format: YYYYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function openssl(args: string[]): Promise<string> {
  return runTool('openssl', args, 30_000);
}
