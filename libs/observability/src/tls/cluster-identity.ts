import type { PeerCertificate } from 'node:tls';

/**
 * Who a cluster certificate speaks for. The identity is the certificate's
 * subject common name, one rule for every channel inside the cluster:
 * `node:<node id>` (a worker agent), `service:<name>` (gateway, scheduler),
 * `operator:<name>` (a person debugging). A CN is what every issuer can set
 * (openssl, Helm's genSignedCert, cert-manager), unlike URI SANs.
 */
export type ClusterIdentity =
  { kind: 'node'; name: string } | { kind: 'service'; name: ClusterService } | { kind: 'operator'; name: string };

export const CLUSTER_SERVICES = ['gateway', 'scheduler'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

export const CLUSTER_IDENTITY_RULE = 'a certificate CN of "node:<node id>", "service:gateway|scheduler" or "operator:<name>"';

const NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

/** The certificate CN that names `identity`. */
export function identityName(identity: ClusterIdentity): string {
  return `${identity.kind}:${identity.name}`;
}

/** The identity a CN names, or undefined when it names none (another format, an unknown service). */
export function parseIdentity(commonName: string): ClusterIdentity | undefined {
  const match = /^(node|service|operator):(.+)$/.exec(commonName);
  if (!match || !NAME.test(match[2]!)) return undefined;
  const name = match[2]!;
  switch (match[1]) {
    case 'node':
      return { kind: 'node', name };
    case 'operator':
      return { kind: 'operator', name };
    default: {
      const service = CLUSTER_SERVICES.find((s) => s === name);
      return service ? { kind: 'service', name: service } : undefined;
    }
  }
}

/** The identity of a peer certificate (already verified against the cluster CA by TLS), from its subject CN. */
export function peerIdentity(cert: Pick<PeerCertificate, 'subject'> | undefined): ClusterIdentity | undefined {
  const cn: unknown = cert?.subject?.CN;
  return typeof cn === 'string' ? parseIdentity(cn) : undefined;
}

/**
 * A `checkServerIdentity` for clients inside the cluster: the server must
 * present the expected identity (its certificate chains to the cluster CA,
 * which TLS checked); host names and IPs are not part of the rule, so one
 * certificate serves a replica at any address.
 */
export function expectServer(expected: ClusterIdentity): (host: string, cert: PeerCertificate) => Error | undefined {
  const want = identityName(expected);
  return (_host, cert) => {
    const got = peerIdentity(cert);
    return got && identityName(got) === want
      ? undefined
      : new Error(`the server's certificate names ${got ? identityName(got) : 'no cluster identity'}, not ${want}`);
  };
}
