import {
  credentials,
  experimental,
  status as Status,
  type ChannelCredentials,
  type ServerCredentials,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { expectServer, identityName, peerIdentity, type ClusterTls, type TlsMaterial } from '@warmpod/observability';

/** What TLS tells a handler about its caller (grpc-js does not export the type itself). */
export type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;

/** Why the registry refused a caller before looking at what it asked (each is counted). */
export type CallerRefusal = 'unauthenticated' | 'not-a-node' | 'other-node';

export interface CallerCheck {
  /** The node the caller's certificate names. */
  node?: string;
  refusal?: { reason: CallerRefusal; code: Status; details: string };
}

/**
 * Server credentials that follow the cluster TLS files: a rotated
 * certificate or CA bundle is used for every new connection, without a
 * restart. A client certificate is asked for but not required by the
 * handshake: every call checks it (`checkCaller`), so a caller without one
 * gets a gRPC status that says why instead of a failed handshake, and the
 * refusal can be logged and counted.
 */
export function registryServerCredentials(tls: ClusterTls): ServerCredentials {
  const provider = new ClusterTlsCertificates(tls);
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** An agent's credentials: its own certificate, and a server that must be the scheduler. */
export function registryChannelCredentials(material: TlsMaterial): ChannelCredentials {
  return credentials.createSsl(material.ca, material.key, material.cert, {
    checkServerIdentity: expectServer({ kind: 'service', name: 'scheduler' }),
  });
}

/**
 * Who is calling: TLS verified the certificate against the CA bundle (an
 * unauthorized one leaves the auth context empty); it must name a node.
 * `nodeId`, when given, is the node the call speaks for: it must be that one.
 */
export function checkCaller(auth: AuthContext | null, nodeId?: string): CallerCheck {
  const cert = auth?.sslPeerCertificate;
  if (!cert) {
    return {
      refusal: {
        reason: 'unauthenticated',
        code: Status.UNAUTHENTICATED,
        details: 'a client certificate issued by the cluster CA is required (none was presented, or it is expired or from another CA)',
      },
    };
  }
  const identity = peerIdentity(cert);
  if (identity?.kind !== 'node') {
    return {
      refusal: {
        reason: 'not-a-node',
        code: Status.PERMISSION_DENIED,
        details: `the client certificate names ${identity ? identityName(identity) : `"${String(cert.subject?.CN)}"`}, not a node ("node:<node id>")`,
      },
    };
  }
  if (nodeId !== undefined && nodeId !== identity.name) {
    return {
      node: identity.name,
      refusal: {
        reason: 'other-node',
        code: Status.PERMISSION_DENIED,
        details: `the client certificate names node ${identity.name}; it cannot speak for node ${nodeId}`,
      },
    };
  }
  return { node: identity.name };
}

/** grpc-js's certificate provider interface over `ClusterTls` (both the CA bundle and the identity). */
class ClusterTlsCertificates implements experimental.CertificateProvider {
  private readonly ca = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identity = new Set<experimental.IdentityCertificateUpdateListener>();
  private unsubscribe?: () => void;

  constructor(private readonly tls: ClusterTls) {}

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.ca.add(listener);
    this.follow();
    process.nextTick(listener, { caCertificate: this.tls.current.ca });
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.ca.delete(listener);
    this.unfollow();
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(listener);
    this.follow();
    process.nextTick(listener, { certificate: this.tls.current.cert, privateKey: this.tls.current.key });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identity.delete(listener);
    this.unfollow();
  }

  private follow(): void {
    this.unsubscribe ??= this.tls.onChange((m) => {
      for (const l of this.ca) l({ caCertificate: m.ca });
      for (const l of this.identity) l({ certificate: m.cert, privateKey: m.key });
    });
  }

  private unfollow(): void {
    if (this.ca.size > 0 || this.identity.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
